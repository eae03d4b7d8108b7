import Broker
import Foundation
import HummingbirdWebSocket
import Journal
import Logging
import NIOCore
import NIOWebSocket
import Publishers

/// Serves one WebSocket connection: opens (or resumes) the session in the journal, answers the
/// client's messages, writes what the fan-out queues, and journals the disconnect.
struct ClientSession {
    let runtime: BrokerRuntime
    let store: EventStore
    let remoteAddress: String?
    let resumeRequest: ResumeRequest?
    /// Who the client's token says it is; nil when auth is off (an anonymous client).
    let identity: ClientIdentity?

    struct ResumeRequest {
        let clientID: String
        let since: UInt64?
    }

    /// Strikes before an abusive client (sustained over-rate, oversized frames) is closed.
    static let strikesBeforeKick = 20

    private var configuration: Configuration { runtime.configuration }
    private var logger: Logger { runtime.logger }

    /// Serves the connection until it ends.
    ///
    /// The work is split into functions that are never inlined (`start`, `handle`, `end`, …): an
    /// async function's frame lives on the task's allocator for as long as it runs, and this one
    /// runs as long as the connection. Only what reading needs stays allocated while a client idles.
    func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, channel: any Channel) async {
        guard let connection = await start(outbound: outbound, channel: channel) else { return }
        await read(inbound, connection: connection)
        await end(connection, outbound: outbound)
    }

    @inline(never)
    private func start(outbound: WebSocketOutboundWriter, channel: any Channel) async -> LiveConnection? {
        let opened: (LiveConnection, resumeFailure: String?)
        do {
            opened = try await open(writer: ConnectionWriter.install(
                on: channel, outbound: outbound, fanOut: runtime.sink.fanOut(for: channel.eventLoop),
                capacity: configuration.limits.outboundQueueCapacity))
        } catch {
            logger.error("could not open a session", metadata: ["error": "\(error)"])
            let failure = ServerMessage.error("unavailable", "the broker could not record the connection: \(error)")
            try? await outbound.write(.custom(WebSocketFrame(fin: true, opcode: .text, data: failure)))
            try? await outbound.close(.unexpectedServerError, reason: "journal unavailable")
            return nil
        }
        if let failure = opened.resumeFailure {
            opened.0.send(ServerMessage.error("resume_failed", failure))
        }
        return opened.0
    }

    @inline(never)
    private func end(_ connection: LiveConnection, outbound: WebSocketOutboundWriter) async {
        if let reason = connection.requestedClose {
            // Closed by us: the close frame goes out before this handler returns (after the queued
            // messages, which the writer was told to send first), or Hummingbird would close normally.
            try? await outbound.close(reason.closeCode, reason: reason.rawValue)
        }
        connection.finish()
        runtime.registry.remove(connection)
        let reason = connection.requestedClose ?? .closed
        let deadline = WallClock.microsecondsNow() + Int64(configuration.resumeWindow.components.seconds) * 1_000_000
        do {
            try await store.execute(.disconnect(clientID: connection.clientID, reason: reason, resumeDeadline: deadline))
            LabeledCounters.disconnects.increment(reason.rawValue)
            logger.info("client disconnected", metadata: ["client": "\(connection.clientID)", "reason": "\(reason.rawValue)"])
        } catch {
            logger.error("could not journal a disconnect", metadata: ["client": "\(connection.clientID)", "error": "\(error)"])
        }
    }

    // MARK: Opening

    @inline(never)
    private func open(writer: ConnectionWriter) async throws -> (LiveConnection, resumeFailure: String?) {
        var clientID: String?
        var resumeFailure: String?
        if let resumeRequest {
            let now = WallClock.microsecondsNow()
            let verdict = await store.read { projection -> String? in
                // Another user's session reads exactly like an unknown one and is checked before
                // anything else, so a client learns nothing about it (not even that it exists).
                guard let client = projection.client(resumeRequest.clientID), client.user == identity?.user else {
                    return "session \(resumeRequest.clientID) is unknown or has expired; started a new session"
                }
                if client.isConnected { return "session \(resumeRequest.clientID) is still connected elsewhere; started a new session" }
                if !client.isResumable(at: now) {
                    return "session \(resumeRequest.clientID) is past its resume window; started a new session"
                }
                return nil
            }
            if let verdict { resumeFailure = verdict } else { clientID = resumeRequest.clientID }
        }
        let resumed = clientID != nil
        let id = clientID ?? Self.newClientID()
        let recorded = try await store.execute(
            .connect(clientID: id, user: identity?.user, remoteAddress: remoteAddress, node: configuration.nodeID))
        let sink = runtime.sink
        let connection = LiveConnection(
            clientID: id, user: identity?.user, remoteAddress: remoteAddress, writer: writer,
            onSlowConsumer: { sink.noteSlowConsumer($0) })
        let seq = recorded.last?.seq ?? 0
        connection.send(ServerMessage.encode(ServerMessage.Connected(
            clientID: id,
            message: resumed ? "WebSocket session resumed" : "WebSocket连接成功",
            timestamp: WireTime.now(), seq: seq, resumed: resumed)))
        if resumed { await dropUnauthorizedSubscriptions(of: connection) }
        // Register and catch up in one step on the store, so no push slips between the two.
        let registry = runtime.registry
        let journal = store.journal
        let logger = logger
        await store.read { projection in
            if resumed {
                for subscription in projection.subscriptions.subscriptions(of: id).sorted() {
                    let entries = projection.knownPrices(for: subscription).map(ServerMessage.PriceEntry.init)
                    guard !entries.isEmpty else { continue }
                    connection.send(
                        ServerMessage.encode(ServerMessage.PriceUpdate(entries: entries, seq: projection.lastSeq, subscription: subscription)))
                }
                if let since = resumeRequest?.since {
                    Self.replayMissed(since: since, to: connection, projection: projection, journal: journal, logger: logger)
                }
            }
            registry.add(connection)
        }
        logger.info(
            resumed ? "client resumed" : "client connected",
            metadata: ["client": "\(id)", "user": "\(identity?.user ?? "-")", "remote": "\(remoteAddress ?? "-")", "seq": "\(seq)"])
        return (connection, resumeFailure)
    }

    /// Unsubscribes a resumed session from what the new token no longer allows (a token with a
    /// narrower allow-list than the one the session started with), telling the client each time.
    /// Runs before the session is registered, so nothing outside the allow-list is pushed meanwhile.
    private func dropUnauthorizedSubscriptions(of connection: LiveConnection) async {
        guard let identity, let allowList = identity.allowList else { return }
        let id = connection.clientID
        let restored = await store.read { $0.subscriptions.subscriptions(of: id).sorted() }
        for subscription in restored {
            guard let refusal = allowList.refusal(of: subscription) else { continue }
            do {
                try await store.execute(.unsubscribe(clientID: id, subscription: subscription))
                connection.send(ServerMessage.error("not_authorized", "dropped the resumed subscription: \(refusal)"))
            } catch {
                // The subscription could not be removed, so it cannot be left to deliver either.
                logger.error("could not drop an unauthorized subscription", metadata: ["client": "\(id)", "error": "\(error)"])
                connection.send(ServerMessage.error("unavailable", "the broker could not record the change: \(error)"))
                connection.requestClose(.kicked)
                return
            }
        }
    }

    /// Sends a resumed client what it missed after `since` and cannot get from the latest prices:
    /// bar closes of its stocks, news of its subscriptions, its alerts — from the journal, in seq order.
    private static func replayMissed(
        since: UInt64, to connection: LiveConnection, projection: Projection, journal: Journal, logger: Logger
    ) {
        guard since < projection.lastSeq else { return }
        let subscriptions = projection.subscriptions.subscriptions(of: connection.clientID)
        let owner = connection.user ?? connection.clientID
        let kinds: Set<UInt16> = [EventKind.klineUpdated.rawValue, EventKind.newsPublished.rawValue, EventKind.alertTriggered.rawValue]
        do {
            let reader = try journal.reader()
            // After `brokerd journal compact`, the oldest events live in an archive the broker does not read.
            if let first = try reader.first(), first.seq > since + 1 {
                connection.send(ServerMessage.error(
                    "resume_incomplete",
                    "events \(since + 1)…\(first.seq - 1) were compacted into an archive; bars, news and alerts among them are not replayed"))
            }
            let cursor = try reader.records(JournalQuery(fromSeq: since + 1, toSeq: projection.lastSeq, kinds: kinds))
            while let record = try cursor.next() {
                let message: (type: String, data: any Encodable & Sendable, subscription: Subscription?)
                switch try EventCodec.decode(kind: record.kind, payload: record.payload) {
                case .klineUpdated(let bar) where bar.closed:
                    let stock = Subscription(type: .stock, target: bar.code)
                    guard subscriptions.contains(stock) else { continue }
                    message = ("kline_update", bar, stock)
                case .newsPublished(let item):
                    let reaching = projection.subscriptionsAffected(byNews: item) + item.codes.map { Subscription(type: .stock, target: $0) }
                    guard let subscription = reaching.first(where: subscriptions.contains) else { continue }
                    message = ("news_update", item, subscription)
                case .alertTriggered(let triggered) where triggered.user == owner:
                    message = ("alert", AlertNotice(triggered: triggered, rule: projection.alerts.rule(id: triggered.ruleID), at: record.timestamp), nil)
                default:
                    continue
                }
                connection.send(ServerMessage.encode(
                    ServerMessage.Envelope(type: message.type, data: message.data, seq: record.seq, subscription: message.subscription)))
            }
        } catch {
            logger.error("could not replay missed events", metadata: ["client": "\(connection.clientID)", "error": "\(error)"])
            connection.send(ServerMessage.error("resume_incomplete", "missed bars, news and alerts could not be read: \(error)"))
        }
    }

    static func newClientID() -> String {
        let value = UInt32.random(in: .min ... .max)
        let hex = String(value, radix: 16)
        return "client_" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    // MARK: Reading

    @inline(never)
    private func read(_ inbound: WebSocketInboundStream, connection: LiveConnection) async {
        var bucket = TokenBucket(
            rate: configuration.limits.messagesPerSecond, burst: configuration.limits.burst, now: WallClock.microsecondsNow())
        var strikes = 0
        var assembler = MessageAssembler(maxBytes: configuration.limits.maxFrameBytes)
        do {
            for try await frame in inbound {
                connection.noteReceived()
                switch assembler.take(frame.opcode, frame.data, fin: frame.fin) {
                case .message(let message, let opcode):
                    await handle(message, opcode: opcode, connection: connection, bucket: &bucket, strikes: &strikes)
                case .tooLarge:
                    strikes += 5
                    refuseOversized(connection)
                case .incomplete:
                    break
                }
                if strikes >= Self.strikesBeforeKick { kick(connection) }
                if connection.requestedClose != nil { break }
            }
        } catch {
            logger.debug("connection ended", metadata: ["client": "\(connection.clientID)", "error": "\(error)"])
        }
    }

    @inline(never)
    private func refuseOversized(_ connection: LiveConnection) {
        connection.send(ServerMessage.error(
            "frame_too_large", "messages may be at most \(configuration.limits.maxFrameBytes) bytes; this one was dropped"))
    }

    @inline(never)
    private func kick(_ connection: LiveConnection) {
        logger.warning("closing an abusive client", metadata: ["client": "\(connection.clientID)"])
        connection.requestClose(.kicked)
    }

    @inline(never)
    private func handle(
        _ message: ByteBuffer, opcode: WebSocketDataFrame.Opcode, connection: LiveConnection, bucket: inout TokenBucket, strikes: inout Int
    ) async {
        guard bucket.take(now: WallClock.microsecondsNow()) else {
            strikes += 1
            LabeledCounters.messagesIn.increment("rate_limited")
            connection.send(ServerMessage.error(
                "rate_limited",
                "more than \(configuration.limits.messagesPerSecond) messages per second (burst \(configuration.limits.burst)); slow down"))
            return
        }
        guard opcode == .text else {
            strikes += 1
            LabeledCounters.messagesIn.increment("binary")
            connection.send(ServerMessage.error("binary_not_supported", "send JSON text frames; binary frames are not part of the protocol"))
            return
        }
        let request: ClientRequest
        do {
            request = try ClientRequest.parse(String(buffer: message), maxTargetLength: Broker.Limits().maxTargetLength)
        } catch {
            LabeledCounters.messagesIn.increment("invalid")
            connection.send(ServerMessage.error(error.error, error.details))
            return
        }
        LabeledCounters.messagesIn.increment(request.type)
        strikes = max(0, strikes - 1)
        switch request {
        case .ping:
            connection.send(ServerMessage.encode(ServerMessage.Pong(timestamp: WireTime.now())))
        case .subscribe(let subscription):
            await change(subscription, subscribe: true, connection: connection)
        case .unsubscribe(let subscription):
            await change(subscription, subscribe: false, connection: connection)
        case .setAlert(let code, let condition, let threshold):
            let rule = AlertRule(
                id: AlertRules.newRuleID(), user: connection.user ?? connection.clientID, code: code, condition: condition,
                threshold: threshold)
            if await run(.setAlertRule(rule), for: connection) {
                runtime.share(.alertRuleSet(rule))
                connection.send(ServerMessage.encode(AlertRules.Reply(type: "alert_set", rule: rule)))
            }
        case .removeAlert(let ruleID):
            let owner = connection.user ?? connection.clientID
            if await run(.removeAlertRule(ruleID: ruleID, user: owner), for: connection) {
                runtime.share(.alertRuleRemoved(ruleID: ruleID, user: owner))
                connection.send(ServerMessage.encode(AlertRules.Removed(ruleID: ruleID, timestamp: WireTime.now())))
            }
        case .listAlerts:
            let owner = connection.user ?? connection.clientID
            let rules = await store.read { projection in
                projection.alerts.rules(ofUser: owner).sorted { $0.id < $1.id }.map {
                    AlertRules.Listed(rule: $0, triggered: projection.alerts.isTriggered($0.id))
                }
            }
            connection.send(ServerMessage.encode(AlertRules.List(rules: rules, timestamp: WireTime.now())))
        }
    }

    /// Executes a command for a client; on refusal the client gets the error and false comes back.
    @inline(never)
    private func run(_ command: Command, for connection: LiveConnection) async -> Bool {
        do {
            try await store.execute(command)
            return true
        } catch let error as BrokerError {
            connection.send(ServerMessage.error(error))
        } catch {
            connection.send(ServerMessage.error("unavailable", "the broker could not record the change: \(error)"))
        }
        return false
    }

    @inline(never)
    private func change(_ subscription: Subscription, subscribe: Bool, connection: LiveConnection) async {
        let id = connection.clientID
        // Only subscribing is checked: unsubscribing never widens what a client receives.
        if subscribe, let refusal = identity?.allowList?.refusal(of: subscription) {
            connection.send(ServerMessage.error("not_authorized", refusal))
            return
        }
        let command: Command = subscribe ? .subscribe(clientID: id, subscription: subscription) : .unsubscribe(clientID: id, subscription: subscription)
        guard await run(command, for: connection) else { return }
        let reply = ServerMessage.SubscriptionReply(
            type: subscribe ? "subscribed" : "unsubscribed",
            subscriptionType: subscription.type.rawValue, target: subscription.target,
            message: subscribe ? "订阅成功" : "取消订阅成功", timestamp: WireTime.now())
        guard subscribe else {
            connection.send(ServerMessage.encode(reply))
            return
        }
        // The reply and the snapshot are queued on the store, so no live push can overtake them.
        await store.read { projection in
            connection.send(ServerMessage.encode(reply))
            let stored = projection.subscriptions.subscriptions(of: id).first { $0.type == subscription.type && ($0.target == subscription.target || subscription.type == .alerts) } ?? subscription
            let entries = projection.knownPrices(for: stored).map(ServerMessage.PriceEntry.init)
            connection.send(ServerMessage.encode(
                ServerMessage.PriceUpdate(entries: entries, seq: projection.lastSeq, subscription: subscription)))
        }
        if subscription.type == .stock { await sendLatestBars(of: subscription, to: connection) }
    }

    /// Periods whose latest bar a new stock subscriber gets: the tick-built ones and daily bars.
    static let snapshotBarPeriods = KlinePublisher().periods.map(\.name) + ["1d"]

    /// Sends a new stock subscriber the latest bar of each snapshot period that the journal knows,
    /// and, when the seed's K-line cache is configured, the cached bar of each period it does not.
    @inline(never)
    private func sendLatestBars(of stock: Subscription, to connection: LiveConnection) async {
        let code = stock.target
        let periods = Self.snapshotBarPeriods
        let missing = await store.read { projection -> [String] in
            periods.filter { period in
                guard let bar = projection.lastBars[BarKey(code: code, period: period)] else { return true }
                connection.send(ServerMessage.encode(
                    ServerMessage.Envelope(type: "kline_update", data: bar, seq: projection.lastSeq, subscription: stock)))
                return false
            }
        }
        guard let cache = runtime.klineCache, !missing.isEmpty else { return }
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
        // Queued on the store, and only where the journal still has no bar, so a live bar that
        // arrived during the lookup is never followed by an older cached one.
        await store.read { projection in
            for bar in found where projection.lastBars[BarKey(code: code, period: bar.period)] == nil {
                connection.send(ServerMessage.encode(
                    ServerMessage.Envelope(type: "kline_update", data: bar, seq: projection.lastSeq, subscription: stock)))
            }
        }
    }
}
