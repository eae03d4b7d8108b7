import Broker
import Foundation
import HTTPTypes
import Hummingbird
import Journal
import Logging
import NIOCore
import NIOPosix
import NIOWebSocket
import Publishers

/// What one WebSocket client's session does that needs the store: open (or resume) it in the
/// journal, carry out the client's requests that change or read broker state, and journal the
/// disconnect. Each runs in a short-lived task that `WebSocketSession` starts when there is such
/// work; what needs no store is answered on the event loop by `FrameIntake`.
struct ClientSession {
    let runtime: BrokerRuntime
    let store: EventStore
    let remoteAddress: String?
    let resumeRequest: ResumeRequest?
    /// Who the client's token says it is; nil when auth is off (an anonymous client).
    let identity: ClientIdentity?
    /// Why the `price_interval` the client asked for was not taken; nil when it was.
    var priceIntervalProblem: String?

    struct ResumeRequest {
        let clientID: String
        /// The seq the client saw last; nil without one (then nothing is replayed).
        let since: UInt64?
        /// The `since` given when it is not a seq.
        let invalidSince: String?
        /// The session's resume token, from its `connected`.
        let token: String?

        /// The header a client that can set headers sends the resume token in: proxies log URLs,
        /// query included, but not headers.
        static let tokenHeader = HTTPField.Name("Brokerd-Resume-Token")!

        /// The resume token `request` brings: its `Brokerd-Resume-Token` header, else `?resume_token=`
        /// (browsers cannot set headers on a WebSocket upgrade).
        static func token(of request: Request) -> String? {
            if let header = request.headers[tokenHeader], !header.isEmpty { return header }
            return request.uri.formValue("resume_token")
        }

        init(clientID: String, since: String?, token: String?) {
            self.clientID = clientID
            self.token = token
            self.since = since.flatMap { UInt64($0) }
            invalidSince = self.since == nil ? since : nil
        }
    }

    private var configuration: Configuration { runtime.configuration }
    private var logger: Logger { runtime.logger }

    /// The close reason of a connection over `max_connections_per_user` (no "token" in it: the
    /// clients give up on a refused token, not on this).
    static let tooManyConnectionsForUser = "too many connections for this user"

    /// Opens the session an upgraded connection asked for: its real address, its identity
    /// (refused with 1008 when auth is on and the token fails) and what it wants to resume.
    /// Nil when the connection was refused or the journal could not record it (the client was told).
    static func open(
        upgrade request: Request, peer: SocketAddress?, writer: ConnectionWriter, runtime: BrokerRuntime
    ) async -> (ClientSession, LiveConnection)? {
        guard let store = runtime.store else {
            writer.close(.unexpectedServerError, reason: "not ready", discardQueued: false)
            return nil
        }
        // The real client behind trusted proxies (nginx), else the TCP peer.
        let remoteAddress = runtime.clientAddresses.resolve(
            peer: peer?.hostAddress, forwardedFor: request.headers[values: .xForwardedFor])
        let identity: ClientIdentity?
        do throws(ClientAuthError) {
            identity = try await BrokerServer.authenticate(request, runtime: runtime)
        } catch {
            // Upgraded first so the client can read why: a refused upgrade is an opaque
            // failure in browsers. No session is opened, so nothing is journaled.
            runtime.logger.warning("client refused", metadata: ["remote": "\(remoteAddress ?? "-")", "reason": "\(error.details)"])
            runtime.admissions.releaseSlot(writer.channelID)
            writer.close(.policyViolation, reason: error.closeReason, discardQueued: false)
            return nil
        }
        let resume = request.uri.formValue("resume").flatMap { id -> ResumeRequest? in
            id.isEmpty ? nil : ResumeRequest(clientID: id, since: request.uri.formValue("since"), token: ResumeRequest.token(of: request))
        }
        if let user = identity?.user {
            let limit = runtime.connectionLimits.maxConnectionsPerUser
            // A resume that will take over the user's own silent connection (`takeOver(_:)`)
            // replaces it rather than adding one: a device back from a dead network is not locked
            // out by the connection it left behind.
            let replacing = resume.flatMap { runtime.registry[$0.clientID] }.map {
                $0.user == user && ElapsedClock.microsecondsNow() - $0.idleSince >= takeOverAfterSilence
            } ?? false
            guard runtime.admissions.admit(writer.channelID, user: user, limit: replacing ? 0 : limit) else {
                // As a refused token: upgraded, told why, nothing journaled. Clients retry with
                // backoff; one of the user's other connections may have closed by then.
                LabeledCounters.refusedUpgrades.increment("too_many_connections_for_user")
                runtime.admissionRefusals.log(
                    "WebSocket connection refused", key: "too_many_connections_for_user",
                    metadata: ["remote": "\(remoteAddress ?? "-")", "user": "\(user)", "limit": .stringConvertible(limit)],
                    logger: runtime.logger)
                runtime.admissions.releaseSlot(writer.channelID)
                writer.close(.policyViolation, reason: Self.tooManyConnectionsForUser, discardQueued: false)
                return nil
            }
        }
        var session = ClientSession(runtime: runtime, store: store, remoteAddress: remoteAddress, resumeRequest: resume, identity: identity)
        session.priceIntervalProblem = WebSocketEndpoint.priceInterval(of: request, brokerInterval: runtime.sink.priceInterval).problem
        guard let connection = await session.start(writer: writer) else { return nil }
        return (session, connection)
    }

    private func start(writer: ConnectionWriter) async -> LiveConnection? {
        let opened: (LiveConnection, resumeFailure: String?)
        do {
            opened = try await open(writer: writer)
        } catch {
            logger.error("could not open a session", metadata: ["error": "\(error)"])
            let failure = ServerMessage.error("unavailable", "the broker could not record the connection: \(error)")
            writer.send(WebSocketWire.textFrame(failure))
            writer.close(.unexpectedServerError, reason: "journal unavailable", discardQueued: false)
            return nil
        }
        if let failure = opened.resumeFailure {
            opened.0.send(ServerMessage.error("resume_failed", failure))
        }
        return opened.0
    }

    /// Ends the session: what is queued is written, the connection leaves the registry and its
    /// disconnect is journaled with the reason the broker closed it for (else `closed`).
    ///
    /// A disconnect the journal does not take (disk full, file locked) is tried again, after 0.1 s,
    /// doubling to 5 s, until it is taken or the broker shuts down (which journals it then):
    /// dropped, the session would stay connected in the journal for good, neither resumable nor
    /// ever expired.
    func end(_ connection: LiveConnection) async {
        connection.finish()
        let reason = connection.requestedClose ?? .closed
        var retryDelay = Duration.milliseconds(100)
        var failures = 0
        while true {
            // An operator's kick that ends the session leaves it no window: nothing resumes it
            // before it is expired.
            let now = WallClock.microsecondsNow()
            let deadline = connection.endsSession ? now : now + runtime.resumeWindowMicroseconds
            do {
                try await store.execute(.disconnect(clientID: connection.clientID, reason: reason, resumeDeadline: deadline))
                LabeledCounters.disconnects.increment(reason.rawValue)
                logger.info("client disconnected", metadata: ["client": "\(connection.clientID)", "reason": "\(reason.rawValue)"])
                if failures > 0 {
                    logger.notice("journaled a disconnect after failed attempts", metadata: ["client": "\(connection.clientID)", "failed": .stringConvertible(failures)])
                }
                break
            } catch let refusal as BrokerError {
                // Not connected in the journal: nothing to record.
                logger.error("disconnect refused", metadata: ["client": "\(connection.clientID)", "error": "\(refusal)"])
                break
            } catch {
                if failures == 0 {
                    logger.error(
                        "could not journal a disconnect; trying again until it is taken",
                        metadata: ["client": "\(connection.clientID)", "error": "\(error)"])
                }
                failures += 1
                guard !runtime.isShuttingDown else { break }
                try? await Task.sleep(for: retryDelay)
                retryDelay = min(retryDelay * 2, .seconds(5))
            }
        }
        // Only now: at shutdown the broker waits for the registry to empty, then journals a
        // disconnect for every client the projection still shows connected.
        runtime.registry.remove(connection)
    }

    // MARK: Opening

    private func open(writer: ConnectionWriter) async throws -> (LiveConnection, resumeFailure: String?) {
        var clientID: String?
        var resumeFailure: String?
        // When the resumed session began: it cannot have missed anything older.
        var sessionStartedAt: Int64 = 0
        var tookOver = false
        if let resumeRequest {
            var verdict = await resumeVerdict(resumeRequest)
            // Still connected: the client reconnected before the broker noticed its old connection
            // was gone (a network that dropped without closing it). The resume takes it over.
            if case .failure(let refusal) = verdict, refusal.isConnected, await takeOver(resumeRequest.clientID) {
                tookOver = true
                verdict = await resumeVerdict(resumeRequest)
            }
            switch verdict {
            case .success(let startedAt):
                clientID = resumeRequest.clientID
                sessionStartedAt = startedAt
            case .failure(let refusal):
                resumeFailure = refusal.reason
            }
        }
        var resuming = clientID != nil
        var candidate = clientID ?? Self.newClientID()
        var recorded: [RecordedEvent] = []
        for attempt in 1... {
            do {
                recorded = try await store.execute(.connect(
                    clientID: candidate, user: identity?.user, remoteAddress: remoteAddress, node: configuration.nodeID,
                    resuming: resuming))
                break
            } catch let refusal as BrokerError where resuming {
                // The session changed between the check above and this command: the sweep expired
                // it, or another resume of it (a second tab, a retry) connected it first.
                switch refusal {
                case .unknownClient: resumeFailure = "session \(candidate) expired while resuming; started a new session"
                case .clientAlreadyConnected:
                    // Taken over once, like a session found connected above; a second race is lost.
                    if !tookOver, await takeOver(candidate) {
                        tookOver = true
                        continue
                    }
                    resumeFailure = "session \(candidate) is still connected elsewhere; started a new session"
                default: throw refusal
                }
                resuming = false
                candidate = Self.newClientID()
            } catch BrokerError.clientIDTaken where !resuming && attempt < 5 {
                // 32 random bits met a session that exists: draw again.
                candidate = Self.newClientID()
            }
        }
        let resumed = resuming
        let id = candidate
        let sink = runtime.sink
        let connection = LiveConnection(
            clientID: id, user: identity?.user, remoteAddress: remoteAddress, tokenExpiresAt: identity?.expiresAt,
            allowList: identity?.allowList, writer: writer,
            onSlowConsumer: { sink.noteSlowConsumer($0) })
        let seq = recorded.last?.seq ?? 0
        let priceInterval = Duration(writer.fanOut.priceInterval)
        connection.send(ServerMessage.encode(ServerMessage.Connected(
            clientID: id,
            message: resumed ? "WebSocket session resumed" : "WebSocket连接成功",
            timestamp: WireTime.now(), seq: seq, resumed: resumed,
            resumeToken: runtime.resumeKey.token(for: id, startedAt: resumed ? sessionStartedAt : recorded.last?.timestamp ?? 0),
            priceInterval: priceInterval > .zero ? priceInterval.inSeconds : nil)))
        if let problem = priceIntervalProblem {
            connection.send(ServerMessage.error("invalid_price_interval", problem))
        }
        if resumed, let invalid = resumeRequest?.invalidSince {
            connection.send(ServerMessage.error(
                "invalid_since",
                "since must be the seq of the last message seen, a whole number from 0; got '\(invalid.prefix(40))',"
                    + " so missed bars, news and alerts are not replayed"))
        }
        if resumed { await dropUnauthorizedSubscriptions(of: connection, how: "resumed") }
        // What was missed, read off the store up to a recent seq; the rest comes below.
        var replay: (MissedEventReplay, readThrough: UInt64)?
        if resumed, let since = resumeRequest?.since {
            replay = await replayMissed(since: since, sessionStartedAt: sessionStartedAt, to: connection)
        }
        // A resumed market subscription's snapshot, prepared off the store.
        let boards = resumed ? await runtime.boards.prepare(forSessionOf: id, store: store) : [:]
        // Register and catch up in one step on the store, so no push slips between the two.
        let registry = runtime.registry
        let journal = store.journal
        let logger = logger
        await store.read { [replay, boards] projection in
            if resumed {
                // What was missed, then the latest prices: seqs in order, so a client cut off
                // half-way resumes from the last one it saw without skipping anything.
                if let (missed, readThrough) = replay, readThrough < projection.lastSeq {
                    let seqs = readThrough + 1...projection.lastSeq
                    do {
                        try missed.send(seqs, from: journal.reader(), to: connection)
                    } catch let failure as MissedEventReplay.ReadFailure {
                        Self.replayFailed(failure, upTo: seqs.upperBound, connection: connection, logger: logger)
                    } catch {
                        Self.replayFailed(error, unread: seqs, connection: connection, logger: logger)
                    }
                }
                for subscription in projection.subscriptions.subscriptions(of: id).sorted() {
                    if let board = boards[subscription]?.priceUpdate(at: projection) {
                        if board.count > 0 { connection.send(board.frame) }
                        continue
                    }
                    let entries = projection.knownPrices(for: subscription).map(ServerMessage.PriceEntry.init)
                    guard !entries.isEmpty else { continue }
                    connection.send(
                        ServerMessage.encode(ServerMessage.PriceUpdate(entries: entries, seq: projection.lastSeq, subscription: subscription)))
                }
            }
            registry.add(connection)
        }
        // A session that opened while the broker began to stop was not among those it closed.
        if runtime.isShuttingDown { connection.requestClose(.shutdown) }
        logger.info(
            resumed ? "client resumed" : "client connected",
            metadata: ["client": "\(id)", "user": "\(identity?.user ?? "-")", "remote": "\(remoteAddress ?? "-")", "seq": .stringConvertible(seq)])
        return (connection, resumeFailure)
    }

    /// Unsubscribes the session from what the connection's token no longer allows (a resume or a
    /// refresh with a narrower allow-list than the session had), telling the client each time
    /// (`how` says which: "resumed", "refreshed"). A resume runs it before the session is
    /// registered, so nothing outside the allow-list is pushed meanwhile.
    private func dropUnauthorizedSubscriptions(of connection: LiveConnection, how: String) async {
        guard let allowList = connection.allowList else { return }
        let id = connection.clientID
        let restored = await store.read { $0.subscriptions.subscriptions(of: id).sorted() }
        for subscription in restored {
            guard let refusal = allowList.refusal(of: subscription) else { continue }
            do {
                try await store.execute(.unsubscribe(clientID: id, subscription: subscription))
                // A code of its own: it answers no request, so clients pacing their requests by
                // the replies must not count it as one.
                connection.send(ServerMessage.error("subscription_dropped", "dropped the subscription on the \(how) session: \(refusal)"))
            } catch {
                // The subscription could not be removed, so it cannot be left to deliver either.
                logger.error("could not drop an unauthorized subscription", metadata: ["client": "\(id)", "error": "\(error)"])
                connection.send(ServerMessage.error("unavailable", "the broker could not record the change: \(error)"))
                connection.requestClose(.kicked)
                return
            }
        }
    }

    /// A catch-up reads no more than about this many seqs on the store (it pauses the broker
    /// meanwhile): what arrived while it read the rest off it.
    static let replayTailOnTheStore: UInt64 = 2_000

    /// Sends a resumed client, off the store, what it missed after `since` that the latest prices do
    /// not tell (`MissedEventReplay`), in seq order, up to a recent seq (at most about
    /// `replayTailOnTheStore` behind the last one applied). Returns the replay and the seq it read
    /// through, for the rest to be sent on the store when the connection is registered. Paced by
    /// the socket: half an outbound queue at a time, each once the one before was handed to it, so
    /// a long catch-up to a slow client does not end as `slow_consumer`.
    ///
    /// When the journal cannot be read part-way, the client is told which seqs were not replayed
    /// (`resume_incomplete`), and the catch-up goes on after them: the rest is read anew.
    private func replayMissed(
        since: UInt64, sessionStartedAt: Int64, to connection: LiveConnection
    ) async -> (MissedEventReplay, readThrough: UInt64) {
        let (missed, lastSeq) = await store.read { (MissedEventReplay(for: connection, projection: $0), $0.lastSeq) }
        // Claims to have seen it all (only a wrong `since` can): what comes before it is registered still counts.
        guard since < lastSeq else { return (missed, since) }
        let journal = store.journal
        var readThrough: UInt64
        do {
            readThrough = try await NIOThreadPool.singleton.runIfActive {
                let reader = try journal.reader()
                return try MissedEventReplay.firstSeq(since: since, startedAt: sessionStartedAt, reader: reader, to: connection) - 1
            }
        } catch {
            Self.replayFailed(error, unread: since + 1...lastSeq, connection: connection, logger: logger)
            return (missed, lastSeq)
        }
        // What the socket was handed before the catch-up (a message or two more may follow:
        // `connected`, an error), and how many messages the catch-up sent.
        let sentBefore = connection.writer.sentCount
        var pushed = 0
        // All of it once, then again while events keep coming faster than the reads catch up,
        // a few times at most.
        for round in 0..<4 where connection.isReachable {
            let target = await store.read { $0.lastSeq }
            guard target > readThrough + (round == 0 ? 0 : Self.replayTailOnTheStore) else { break }
            var from = readThrough + 1
            while true {
                let seqs = from...target
                let part: (sent: Int, stoppedAt: UInt64?)
                do {
                    part = try await NIOThreadPool.singleton.runIfActive {
                        try missed.send(seqs, from: journal.reader(), to: connection, limit: max(1, connection.writer.capacity / 2))
                    }
                } catch let failure as MissedEventReplay.ReadFailure {
                    Self.replayFailed(failure, upTo: target, connection: connection, logger: logger)
                    break
                } catch {
                    Self.replayFailed(error, unread: seqs, connection: connection, logger: logger)
                    break
                }
                pushed += part.sent
                await Self.waitUntilHandedToTheSocket(
                    pushed, since: sentBefore, by: connection, patience: runtime.connectionLimits.slowConsumerTimeout)
                guard let stoppedAt = part.stoppedAt else { break }
                from = stoppedAt + 1
            }
            readThrough = target
        }
        return (missed, readThrough)
    }

    /// Waits while the client is reachable until `count` messages since `sentBefore` were handed to
    /// its socket (none waits in the outbound queue), or it took nothing for `patience` (the slow
    /// consumer timeout, which closes it meanwhile; then the catch-up sends on, and the outbound
    /// queue's limit decides).
    private static func waitUntilHandedToTheSocket(
        _ count: Int, since sentBefore: UInt64, by connection: LiveConnection, patience: Duration
    ) async {
        var last = connection.writer.sentCount
        var lastProgress = ContinuousClock.now
        while connection.isReachable, last - sentBefore < UInt64(count) {
            try? await Task.sleep(for: .milliseconds(2))
            let now = connection.writer.sentCount
            if now != last {
                last = now
                lastProgress = .now
            } else if ContinuousClock.now - lastProgress > patience {
                return
            }
        }
    }

    /// Tells the client that the events from `failure.unreadFrom` to `last` could not be read off
    /// the journal for its catch-up; only logs when the read failed past `last` (on a row after
    /// the range, which SQLite stepped to), since nothing of the range is missing then.
    private static func replayFailed(_ failure: MissedEventReplay.ReadFailure, upTo last: UInt64, connection: LiveConnection, logger: Logger) {
        guard failure.unreadFrom <= last else {
            logger.warning(
                "journal read failed past a catch-up's range", metadata: ["client": "\(connection.clientID)", "error": "\(failure.underlying)"])
            return
        }
        replayFailed(failure.underlying, unread: failure.unreadFrom...last, connection: connection, logger: logger)
    }

    /// Tells the client that the events `unread` could not be read off the journal for its catch-up.
    private static func replayFailed(_ error: any Error, unread: ClosedRange<UInt64>, connection: LiveConnection, logger: Logger) {
        logger.error(
            "could not replay missed events",
            metadata: ["client": "\(connection.clientID)", "seqs": "\(unread.lowerBound)…\(unread.upperBound)", "error": "\(error)"])
        connection.send(ServerMessage.error(
            "resume_incomplete",
            "events \(unread.lowerBound)…\(unread.upperBound) could not be read from the journal (\(error)); bars, news and alerts among them are not replayed"))
    }

    /// Why a resume was not granted, as the client is told.
    private struct ResumeRefusal: Error {
        let reason: String
        /// Refused only because a connection holds the session.
        var isConnected = false
        init(_ reason: String, isConnected: Bool = false) {
            self.reason = reason
            self.isConnected = isConnected
        }
    }

    /// Whether the session can be resumed now: the start of the session (it cannot have missed
    /// anything older), or why not.
    private func resumeVerdict(_ request: ResumeRequest) async -> Result<Int64, ResumeRefusal> {
        let now = WallClock.microsecondsNow()
        let user = identity?.user
        // An anonymous session is its id and token; an authenticated one is also its user's, so
        // its token may be left out (the seed-era `?resume=<id>&since=<seq>`), never wrong.
        let token = request.token.flatMap { $0.isEmpty ? nil : $0 }
        if token == nil, user == nil {
            return .failure(ResumeRefusal("a resume needs the resume_token that `connected` gave the session (?resume_token= or the Brokerd-Resume-Token header); started a new session"))
        }
        let resumeKey = runtime.resumeKey
        return await store.read { projection -> Result<Int64, ResumeRefusal> in
            // Another user's session, or a wrong token (bound to the session's start, so one kept
            // from a session that expired is no use for a later one with the same id), reads
            // exactly like an unknown session and is checked before anything else, so a client
            // learns nothing about it (not even that it exists).
            guard let client = projection.client(request.clientID), client.user == user,
                token.map({ resumeKey.accepts($0, for: client.id, startedAt: client.startedAt) }) ?? true
            else {
                return .failure(ResumeRefusal("session \(request.clientID) is unknown or has expired; started a new session"))
            }
            if client.isConnected {
                return .failure(ResumeRefusal("session \(request.clientID) is still connected elsewhere; started a new session", isConnected: true))
            }
            if !client.isResumable(at: now) {
                return .failure(ResumeRefusal("session \(request.clientID) is past its resume window; started a new session"))
            }
            return .success(client.startedAt)
        }
    }

    /// How long a resume waits for the connection it takes over to be journaled gone.
    static let takeOverTimeout: Duration = .seconds(3)

    /// How long a connection must have sent nothing for a resume to close it: a network gone
    /// without a close leaves it silent (a client notices after its ping goes unanswered, 10 s and
    /// more after it last got one through). A connection heard from lately is not cut off: it may
    /// be closing already (a quick reconnect; waited for), or be a second client sharing the id,
    /// which would otherwise take the session back and forth.
    static let takeOverAfterSilence: Int64 = 5_000_000

    /// Closes this node's connection of the session (reason `replaced`) when it has been silent
    /// for `takeOverAfterSilence`, and waits until its disconnect is journaled; false when no
    /// connection here holds it, the session could not be resumed after it (no resume window), or
    /// it did not go in time.
    private func takeOver(_ clientID: String) async -> Bool {
        guard runtime.resumeWindowMicroseconds > 0, let old = runtime.registry[clientID] else { return false }
        if ElapsedClock.microsecondsNow() - old.idleSince >= Self.takeOverAfterSilence, old.requestClose(.replaced) {
            logger.info("resume takes over a connected session", metadata: ["client": "\(clientID)"])
        }
        let deadline = ContinuousClock.now + Self.takeOverTimeout
        while ContinuousClock.now < deadline {
            if await store.read({ $0.client(clientID)?.isConnected != true }) { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return false
    }

    static func newClientID() -> String {
        let value = UInt32.random(in: .min ... .max)
        let hex = String(value, radix: 16)
        return "client_" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    // MARK: Requests

    /// Carries out a request that needs the store (`FrameIntake` answers the others); every direct
    /// reply echoes the request's id.
    func perform(_ identified: IdentifiedRequest, connection: LiveConnection) async {
        let id = identified.id
        switch identified.request {
        case .ping:
            connection.send(ServerMessage.reply(ServerMessage.Pong(timestamp: WireTime.now()), to: id))
        case .subscribe(let subscription):
            await change([subscription], subscribe: true, connection: connection, answering: id)
        case .unsubscribe(let subscription):
            await change([subscription], subscribe: false, connection: connection, answering: id)
        case .subscribeAll(let subscriptions):
            await change(subscriptions, subscribe: true, connection: connection, answering: id)
        case .unsubscribeAll(let subscriptions):
            await change(subscriptions, subscribe: false, connection: connection, answering: id)
        case .setAlert(let code, let condition, let threshold):
            if let allowList = connection.allowList {
                let strategies = await store.read { $0.strategies.strategies(containing: code) }
                if let refusal = allowList.alertRefusal(code: code, strategies: strategies) {
                    connection.send(ServerMessage.error("not_authorized", refusal, answering: id))
                    return
                }
            }
            let rule = AlertRule(
                id: AlertRules.newRuleID(), user: connection.user ?? connection.clientID, code: code, condition: condition,
                threshold: threshold)
            // Answered ahead of any alert the rule fires.
            let reply = ServerMessage.reply(AlertRules.Reply(type: "alert_set", rule: rule), to: id)
            // Shared in commit order, with the reply (a new rule id always records the rule).
            let runtime = runtime
            _ = await run(.setAlertRule(rule), for: connection, answering: id) { _ in
                connection.send(reply)
                runtime.share(.alertRuleSet(rule))
            }
        case .removeAlert(let ruleID):
            let owner = connection.user ?? connection.clientID
            let reply = ServerMessage.reply(AlertRules.Removed(ruleID: ruleID, timestamp: WireTime.now()), to: id)
            let runtime = runtime
            _ = await run(.removeAlertRule(ruleID: ruleID, user: owner), for: connection, answering: id) { _ in
                connection.send(reply)
                runtime.share(.alertRuleRemoved(ruleID: ruleID, user: owner))
            }
        case .refresh(let token):
            await refresh(with: token, connection: connection, answering: id)
        case .listAlerts:
            let owner = connection.user ?? connection.clientID
            let rules = await store.read { projection in
                projection.alerts.rules(ofUser: owner).sorted { $0.id < $1.id }.map {
                    AlertRules.Listed(rule: $0, triggered: projection.alerts.isTriggered($0.id))
                }
            }
            connection.send(ServerMessage.reply(AlertRules.List(rules: rules, timestamp: WireTime.now()), to: id))
        }
    }

    /// Takes a fresh token on an open connection (`refresh`), so it is not closed at the old
    /// one's `exp`: it must be valid and of the connection's user; its allow-list applies from now
    /// on (subscriptions outside it are dropped, each with `subscription_dropped`), and its `exp`
    /// is when the connection closes. A token that will not do changes nothing (`invalid_token`).
    private func refresh(with token: String, connection: LiveConnection, answering id: RequestID?) async {
        guard let verifier = runtime.tokenVerifier else {
            LabeledCounters.tokenRefreshes.increment("auth_off")
            connection.send(ServerMessage.error(
                "auth_off", "this broker checks no tokens (no jwt_secret): a connection has none to refresh", answering: id))
            return
        }
        let identity: ClientIdentity
        do {
            identity = try await verifier.verify(token)
        } catch {
            LabeledCounters.tokenRefreshes.increment("invalid_token")
            connection.send(ServerMessage.error(
                "invalid_token", "\(error); the connection keeps the token it has, and is closed at its exp", answering: id))
            return
        }
        guard identity.user == connection.user else {
            LabeledCounters.tokenRefreshes.increment("invalid_token")
            connection.send(ServerMessage.error(
                "invalid_token", "the token is another user's; a connection keeps the user it opened with", answering: id))
            return
        }
        connection.adopt(identity)
        LabeledCounters.tokenRefreshes.increment("refreshed")
        await dropUnauthorizedSubscriptions(of: connection, how: "refreshed")
        logger.info("token refreshed", metadata: ["client": "\(connection.clientID)", "user": "\(identity.user)"])
        connection.send(ServerMessage.reply(
            ServerMessage.Refreshed(expiresAt: identity.expiresAt.map { WireTime.format(microseconds: $0) }, timestamp: WireTime.now()), to: id))
    }

    /// Executes a command for a client and, once it is applied, queues `reply` (on the store, so
    /// the client gets it behind the pushes of earlier events and ahead of those of later ones);
    /// on refusal the client gets the error (answering `id`) and false comes back.
    private func run(
        _ command: Command, for connection: LiveConnection, answering id: RequestID?,
        reply: @escaping @Sendable (Projection) -> Void
    ) async -> Bool {
        do {
            try await store.execute(command, whenApplied: reply)
            return true
        } catch let error as BrokerError {
            connection.send(ServerMessage.error(error, answering: id))
        } catch {
            connection.send(ServerMessage.error("unavailable", "the broker could not record the change: \(error)", answering: id))
        }
        return false
    }

    /// Subscribes to or unsubscribes from `subscriptions` (one, or several of one message, all or
    /// none); each gets its reply (and a new one its snapshot), in the order asked.
    private func change(_ subscriptions: [Subscription], subscribe: Bool, connection: LiveConnection, answering requestID: RequestID?) async {
        let id = connection.clientID
        // Only subscribing is checked: unsubscribing never widens what a client receives.
        if subscribe, let allowList = connection.allowList, let refusal = subscriptions.lazy.compactMap(allowList.refusal(of:)).first {
            connection.send(ServerMessage.error("not_authorized", refusal, answering: requestID))
            return
        }
        let command: Command =
            if let subscription = subscriptions.first, subscriptions.count == 1 {
                subscribe ? .subscribe(clientID: id, subscription: subscription) : .unsubscribe(clientID: id, subscription: subscription)
            } else {
                subscribe ? .subscribeAll(clientID: id, subscriptions: subscriptions) : .unsubscribeAll(clientID: id, subscriptions: subscriptions)
            }
        // The replies and the snapshots are queued where the command's events are applied: no push
        // of a subscription reaches the client before its `subscribed`, none after its
        // `unsubscribed`, and a snapshot is the state as of its seq, ahead of every later push. So
        // a reply's seq is one the client has everything up to: a resume from it replays nothing
        // from before the subscription (a news item published before it, say).
        let klines = runtime.klines
        let timestamp = WireTime.now()
        // A market subscription's snapshot, prepared off the store (`BoardSnapshot`).
        let boards = subscribe ? await runtime.boards.prepare(subscriptions, store: store) : [:]
        let changed = await run(command, for: connection, answering: requestID) { projection in
            for subscription in subscriptions {
                connection.send(ServerMessage.reply(ServerMessage.SubscriptionReply(
                    type: subscribe ? "subscribed" : "unsubscribed",
                    subscriptionType: subscription.type.rawValue, target: subscription.target,
                    message: subscribe ? "订阅成功" : "取消订阅成功", seq: projection.lastSeq, timestamp: timestamp), to: requestID))
                if subscribe { Self.sendSnapshot(of: subscription, to: connection, projection: projection, klines: klines, board: boards[subscription]) }
            }
        }
        // Off the client's message order: a slow cache must not hold up its next requests.
        if changed, subscribe, runtime.klineCache != nil {
            for subscription in subscriptions where subscription.type == .stock {
                Task { await self.sendCachedBars(of: subscription, to: connection) }
            }
        }
    }

    /// What a new subscriber gets after `subscribed`: the known prices of the subscription (news
    /// and alerts carry none) and, for a stock, the latest bar of each snapshot period: the one
    /// `klines` is building from ticks, or the journal's latest when that one is not older. A
    /// board's prices come from `board`, prepared off the store, when it can follow the projection.
    private static func sendSnapshot(
        of subscription: Subscription, to connection: LiveConnection, projection: Projection, klines: KlinePublisher,
        board: BoardSnapshot?
    ) {
        guard subscription.type != .news && subscription.type != .alerts else { return }
        if let board = board?.priceUpdate(at: projection) {
            connection.send(board.frame)
            return
        }
        let entries = projection.knownPrices(for: subscription).map(ServerMessage.PriceEntry.init)
        connection.send(ServerMessage.encode(
            ServerMessage.PriceUpdate(entries: entries, seq: projection.lastSeq, subscription: subscription)))
        guard subscription.type == .stock else { return }
        for period in snapshotBarPeriods {
            let key = BarKey(code: subscription.target, period: period)
            guard let bar = latestBar(projection.lastBars[key], klines.openBar(key)) else { continue }
            connection.send(ServerMessage.encode(
                ServerMessage.Envelope(type: "kline_update", data: bar, seq: projection.lastSeq, subscription: subscription)))
        }
    }

    /// The later of a journaled bar and a bar being built from ticks; the journaled one when both
    /// start together (a bar ingested as it is, e.g. from `POST /api/klines`, for the same period).
    static func latestBar(_ journaled: KlineBar?, _ building: KlineBar?) -> KlineBar? {
        guard let building else { return journaled }
        guard let journaled else { return building }
        return building.start > journaled.start ? building : journaled
    }

    /// Periods whose latest bar a new stock subscriber gets: the tick-built ones and daily bars.
    static let snapshotBarPeriods = KlinePublisher().periods.map(\.name) + ["1d"]

    /// Sends a new stock subscriber, when the seed's K-line cache is configured, the cached bar of
    /// each snapshot period the broker has no bar of: none in the journal, none built from ticks
    /// (those it has went with the snapshot, or may have reached the client since).
    private func sendCachedBars(of stock: Subscription, to connection: LiveConnection) async {
        guard let cache = runtime.klineCache else { return }
        let code = stock.target
        let klines = runtime.klines
        let knowsNoBar: @Sendable (String, Projection) -> Bool = { period, projection in
            let key = BarKey(code: code, period: period)
            return projection.lastBars[key] == nil && klines.latestBuiltStart(key) == nil
        }
        let periods = Self.snapshotBarPeriods
        let missing = await store.read { projection in
            periods.filter { knowsNoBar($0, projection) }
        }
        guard !missing.isEmpty else { return }
        // A pattern without {period} (the seed's bare `{code}` keys) holds one bar: its daily one.
        let lookups = cache.keyPattern.contains("{period}") ? missing : missing.filter { $0 == "1d" }
        var cached: [KlineBar] = []
        for period in lookups {
            do {
                if let bar = try await cache.latestBar(code: code, period: period) { cached.append(bar) }
            } catch {
                logger.warning("K-line cache lookup failed", metadata: ["code": "\(code)", "period": "\(period)", "error": "\(error)"])
                break
            }
        }
        guard !cached.isEmpty else { return }
        let found = cached
        // Queued on the store, where ticks are folded into bars and pushed, and only where the
        // broker still has no bar: a live bar (journaled, or built from a tick) that reached the
        // client during the lookup is never followed by an older cached one.
        let clientID = connection.clientID
        await store.read { projection in
            // Unsubscribed meanwhile: nothing of the stock may follow `unsubscribed`.
            guard projection.subscriptions.subscriptions(of: clientID).contains(stock) else { return }
            for bar in found where knowsNoBar(bar.period, projection) {
                connection.send(ServerMessage.encode(
                    ServerMessage.Envelope(type: "kline_update", data: bar, seq: projection.lastSeq, subscription: stock)))
            }
        }
    }
}
