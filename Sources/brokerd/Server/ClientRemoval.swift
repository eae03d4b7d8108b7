import Broker
import Hummingbird
import Journal
import Logging
import Publishers

/// What an operator's `DELETE /api/websocket/clients/{client_id}` (and `?user=`) does: closes the
/// client's connection on this node at once (1008 `kicked`, journaled as its disconnect) and,
/// unless the session is to be kept, ends the session (`session_expired`): a resume then finds
/// nothing to resume, and the client starts a fresh session if it comes back.
///
/// A kick is a disconnect, not a ban: a client may connect again (with auth, while its token is
/// valid). Sessions are per node, so a client is removed on the node it is connected to: when
/// nodes share through Redis, a user's removal is handed to the other nodes too (`UserRemoval`),
/// and so is a client's that this node does not have (`SessionRemoval`).
struct ClientRemoval {
    let runtime: BrokerRuntime
    let store: EventStore

    /// How long a removal waits for the connection's disconnect to be journaled. The other
    /// nodes' answers are waited for a little longer by default (`redis_answer_wait`, 6 s).
    static let timeout: Duration = .seconds(5)

    /// What a removal did, as the API answers it.
    struct Outcome: Encodable, Sendable {
        let clientID: String
        let user: String?
        /// Whether the session had a connection, now closed and its disconnect journaled.
        let disconnected: Bool
        /// Whether the session is ended (`session_expired` journaled): nothing can resume it.
        let sessionEnded: Bool
        /// The journal's last seq once it was done: the disconnect and the session's end are at or
        /// before it.
        let seq: UInt64

        enum CodingKeys: String, CodingKey {
            case user, disconnected, seq
            case clientID = "client_id"
            case sessionEnded = "session_ended"
        }
    }

    /// Closes `clientID`'s connection, if it has one, and ends its session when `endingSession`.
    /// Throws 404 for a session this node does not have, 409 for one with no connection when it
    /// is to be kept, 503 when the disconnect or the end could not be journaled in time.
    func remove(_ clientID: String, endingSession: Bool) async throws -> Outcome {
        guard !runtime.isShuttingDown else { throw APIError.shuttingDown }
        let deadline = ContinuousClock.now + Self.timeout
        var disconnected = false
        var user: String?
        while true {
            let found = await store.read { $0.client(clientID).map { (isConnected: $0.isConnected, user: $0.user) } }
            guard let found else {
                // Ended meanwhile by the sweep (a kicked session has no resume window left).
                if disconnected && endingSession { return await outcome(clientID, user: user, disconnected: true, ended: []) }
                throw APIError(
                    status: .notFound, error: "unknown_client",
                    details: "no session \(clientID) on this node (sessions are per node: nodes sharing through Redis ask the others,"
                        + " unless ?nodes=this; GET /api/websocket/clients lists a node's connections)")
            }
            user = found.user
            guard found.isConnected else { break }
            // Not listed: the connection is still opening (journaled, not yet serving) or its end
            // is being journaled; either way it is soon one or the other.
            if let connection = runtime.registry[clientID] {
                if connection.kick(endingSession: endingSession) {
                    runtime.logger.notice(
                        "client kicked by an operator",
                        metadata: ["client": "\(clientID)", "user": "\(found.user ?? "-")", "session": endingSession ? "ended" : "kept"])
                }
                disconnected = true
            }
            guard ContinuousClock.now < deadline else {
                throw APIError(
                    status: .serviceUnavailable, error: "disconnect_pending",
                    details: "\(clientID) is still connected in the journal after \(Self.timeout): its disconnect is not journaled"
                        + " yet (see /readyz); a closed connection's is journaled as soon as the journal takes it")
            }
            try await Task.sleep(for: .milliseconds(5))
        }
        guard endingSession else {
            guard disconnected else {
                throw APIError(
                    status: .conflict, error: "client_not_connected",
                    details: "session \(clientID) has no connection to close; leave out ?session=keep to end the session")
            }
            return await outcome(clientID, user: user, disconnected: true, ended: nil)
        }
        do {
            let recorded = try await runtime.expireSession(clientID, in: store)
            return await outcome(clientID, user: user, disconnected: disconnected, ended: recorded)
        } catch BrokerError.unknownClient {
            // The sweep ended it first.
            return await outcome(clientID, user: user, disconnected: disconnected, ended: [])
        } catch BrokerError.clientStillConnected {
            // Resumed between its disconnect and its end: it was closing for another reason when
            // the kick came, and its disconnect kept a resume window.
            throw APIError(
                status: .conflict, error: "client_reconnected",
                details: "session \(clientID) was resumed before it could be ended; send the request again")
        } catch let error as JournalError {
            throw APIError(status: .serviceUnavailable, error: "journal_unavailable", details: "\(error)")
        }
    }

    /// Removes every session of `user` (the `sub` of the tokens its clients connected with): the
    /// connected ones are closed, and the sessions ended when `endingSessions` (those without a
    /// connection too, so none of them can be resumed).
    func removeAll(ofUser user: String, endingSessions: Bool) async throws -> [Outcome] {
        let clientIDs = await store.read { projection in
            projection.clients.values.filter { $0.user == user && (endingSessions || $0.isConnected) }.map(\.id).sorted()
        }
        var outcomes: [Outcome] = []
        for clientID in clientIDs {
            do {
                outcomes.append(try await remove(clientID, endingSession: endingSessions))
            } catch let error as APIError where error.error == "unknown_client" || error.error == "client_not_connected" {
                // Left on its own meanwhile (expired, or closed while its session is kept).
                continue
            }
        }
        return outcomes
    }

    /// The outcome, with the journal's seq now; `ended`: what ending the session recorded (nil
    /// when it was kept).
    private func outcome(_ clientID: String, user: String?, disconnected: Bool, ended: [RecordedEvent]?) async -> Outcome {
        LabeledCounters.clientsRemoved.increment(ended == nil ? "kept" : "ended")
        let lastSeq = await store.read { $0.lastSeq }
        return Outcome(
            clientID: clientID, user: user, disconnected: disconnected, sessionEnded: ended != nil,
            seq: max(lastSeq, ended?.last?.seq ?? 0))
    }

    /// Acts on a user's removal an operator asked another node for: closes the user's connections
    /// here (and ends its sessions) as that node did there, off the Redis reader's thread (a
    /// removal waits for the journal). One heard of too late is logged and left alone: the user
    /// may have connected again since.
    static func removeAsAskedOnAnotherNode(_ removal: UserRemoval, runtime: BrokerRuntime, store: EventStore) {
        let metadata: Logger.Metadata = [
            "user": "\(removal.user)", "node": "\(removal.requestedOn ?? "-")", "session": removal.endingSessions ? "ended" : "kept",
        ]
        guard isInTime(removal, "a user's removal", runtime: runtime, metadata: metadata) else { return }
        let template = removal.answer(from: runtime.configuration.nodeID)
        NodeRequestMetrics.received(removal.requestKind, template == nil ? .acted : .answered)
        Task {
            var answer = template
            do {
                let outcomes = try await ClientRemoval(runtime: runtime, store: store)
                    .removeAll(ofUser: removal.user, endingSessions: removal.endingSessions)
                answer?.clients = outcomes.map(\.clientID)
                runtime.logger.notice(
                    "a user's sessions removed, asked on another node", metadata: metadata.merging(["clients": .stringConvertible(outcomes.count)]) { $1 })
            } catch {
                // Bounded as the node asked checks it: a longer one would be dropped there as malformed.
                answer?.error = String(((error as? APIError).map { "\($0.error): \($0.details)" } ?? "\(error)").prefix(UserRemovalAnswer.maxErrorLength))
                runtime.logger.warning(
                    "a user's removal asked on another node failed here", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
            // The node asked waits for it (NodeAnswers); lost with Redis, it is counted unanswered there.
            if let answer { runtime.broadcaster?.offer(.userRemovalAnswered(answer)) }
        }
    }

    /// Acts on a session's removal an operator asked another node for, which did not have it: when
    /// the session is here, closes its connection (and ends it) as that node would have, and
    /// answers what it did or why it could not; without it, answers so.
    static func removeAsAskedOnAnotherNode(_ removal: SessionRemoval, runtime: BrokerRuntime, store: EventStore) {
        let metadata: Logger.Metadata = [
            "client": "\(removal.clientID)", "node": "\(removal.requestedOn ?? "-")", "session": removal.endingSession ? "ended" : "kept",
        ]
        guard isInTime(removal, "a session's removal", runtime: runtime, metadata: metadata) else { return }
        let template = removal.answer(from: runtime.configuration.nodeID)
        NodeRequestMetrics.received(removal.requestKind, template == nil ? .acted : .answered)
        Task {
            var answer = template
            do {
                let outcome = try await ClientRemoval(runtime: runtime, store: store).remove(removal.clientID, endingSession: removal.endingSession)
                answer?.removed = SessionRemovalAnswer.Removed(
                    user: outcome.user, disconnected: outcome.disconnected, sessionEnded: outcome.sessionEnded, seq: outcome.seq)
                runtime.logger.notice("a session removed, asked on another node", metadata: metadata)
            } catch let error as APIError where error.error == "unknown_client" {
                // Not here: the answer says so (nodes without it answer too, so the node asked
                // need not wait for them).
            } catch {
                let refusal = (error as? APIError) ?? APIError(status: .internalServerError, error: "internal", details: "\(error)")
                answer?.refused = SessionRemovalAnswer.Refused(
                    status: Int(refusal.status.code), error: refusal.error,
                    details: String(refusal.details.prefix(SessionRemovalAnswer.maxDetailsLength)))
                runtime.logger.warning(
                    "a session's removal asked on another node failed here", metadata: metadata.merging(["error": "\(refusal.error)"]) { $1 })
            }
            if let answer { runtime.broadcaster?.offer(.sessionRemovalAnswered(answer)) }
        }
    }

    /// Whether a removal another node was asked for is recent enough to act on; one heard of too
    /// late is counted, logged (throttled per kind, each on its own: anything that can PUBLISH
    /// could send many) and left alone.
    private static func isInTime(
        _ removal: some OperatorRemoval, _ what: String, runtime: BrokerRuntime, metadata: Logger.Metadata
    ) -> Bool {
        let kind = removal.requestKind
        let now = WallClock.microsecondsNow()
        guard removal.isStale(at: now) else { return true }
        NodeRequestMetrics.received(kind, .stale)
        runtime.staleMessages.log(
            "\(what) asked on another node came too late and is not acted on", key: kind,
            metadata: metadata.merging(["age_seconds": .stringConvertible((now - removal.requestedAt) / 1_000_000)]) { $1 },
            logger: runtime.logger, level: .warning)
        return false
    }

    /// Whether `?nodes=` asks the other nodes too (`all`, the default) or only this one (`this`).
    static func asksOtherNodes(_ request: Request) throws -> Bool {
        switch request.uri.formValue("nodes") {
        case nil, "all": return true
        case "this": return false
        case let other?:
            throw APIError.badRequest(
                "invalid_nodes", "nodes must be all (every node sharing through Redis) or this (only this node), got '\(other.prefix(40))'")
        }
    }

    /// Whether `?session=` asks to end the session (`end`, the default) or keep it (`keep`).
    static func endsSession(_ request: Request) throws -> Bool {
        switch request.uri.formValue("session") {
        case nil, "end": return true
        case "keep": return false
        case let other?:
            throw APIError.badRequest(
                "invalid_session", "session must be end (the default: the session cannot be resumed) or keep (it can), got '\(other.prefix(40))'")
        }
    }
}

extension APIRoutes {
    /// `DELETE /api/websocket/clients/{client_id}[?session=keep][&nodes=this]`: a session this node
    /// does not have is asked of the other nodes.
    func removeClient(_ request: Request, _ context: BrokerRequestContext) async throws -> Response {
        let clientID = try Self.pathParameter("client_id", context)
        let endingSession = try ClientRemoval.endsSession(request)
        let asksOthers = try ClientRemoval.asksOtherNodes(request)
        let removal = ClientRemoval(runtime: runtime, store: try readyStore())
        do {
            return JSONResponse.make(try await removal.remove(clientID, endingSession: endingSession))
        } catch let error as APIError where error.error == "unknown_client" {
            guard asksOthers, let broadcaster = runtime.broadcaster,
                FieldRules.identifierProblem(clientID, maxLength: Limits().maxTargetLength) == nil
            else { throw error }
            return try await removeOnAnotherNode(clientID, endingSession: endingSession, through: broadcaster)
        }
    }

    /// Asks the other nodes to remove `clientID`'s session, which this node does not have, and
    /// answers with what the node that had it did (and its id, `node`), or its refusal.
    private func removeOnAnotherNode(_ clientID: String, endingSession: Bool, through broadcaster: RedisBroadcaster) async throws -> Response {
        let answer = try await askOtherNodes(about: clientID, answers: runtime.sessionRemovalAnswers, through: broadcaster, having: \.hadSession) {
            requestID, now in
            .sessionRemoved(SessionRemoval(
                clientID: clientID, endingSession: endingSession, requestedAt: now, requestedOn: runtime.configuration.nodeID, requestID: requestID))
        }
        if let refused = answer.refused {
            throw APIError(
                status: HTTPResponse.Status(code: refused.status), error: refused.error, details: "on node \(answer.node): \(refused.details)")
        }
        return JSONResponse.make(RemovedElsewhereBody(clientID: clientID, answer: answer))
    }

    /// `DELETE /api/websocket/clients?user=…[&session=keep][&nodes=this]`.
    func removeClients(_ request: Request) async throws -> Response {
        guard let user = request.uri.formValue("user"), !user.isEmpty else {
            throw APIError.badRequest(
                "missing_user", "name the client, DELETE /api/websocket/clients/{client_id}, or the user whose sessions go: ?user=<sub>")
        }
        if let problem = FieldRules.identifierProblem(user, maxLength: Limits().maxTargetLength) {
            throw APIError.badRequest("invalid_user", "user \(problem); no session can have such a user")
        }
        let endingSessions = try ClientRemoval.endsSession(request)
        let asksOthers = try ClientRemoval.asksOtherNodes(request)
        let removal = ClientRemoval(runtime: runtime, store: try readyStore())
        // The other nodes first: they close the user's connections there while this one does here.
        let otherNodes: RemovedClientsBody.OtherNodes
        var asked: AskedNodes<UserRemovalAnswer>?
        if !asksOthers {
            otherNodes = .notAsked
        } else if let broadcaster = runtime.broadcaster {
            asked = askOtherNodes(runtime.userRemovalAnswers, through: broadcaster) { requestID, now in
                .userRemoved(UserRemoval(
                    user: user, endingSessions: endingSessions, requestedAt: now, requestedOn: runtime.configuration.nodeID, requestID: requestID))
            }
            otherNodes = asked == nil ? .unreachable : .asked
        } else {
            otherNodes = .none
        }
        let outcomes: [ClientRemoval.Outcome]
        do {
            outcomes = try await removal.removeAll(ofUser: user, endingSessions: endingSessions)
        } catch {
            asked?.pending.close()
            throw error
        }
        let collected = await asked?.collect() ?? NodeAnswers<UserRemovalAnswer>.Collected()
        return JSONResponse.make(RemovedClientsBody(user: user, clients: outcomes, otherNodes: otherNodes, collected: collected))
    }
}

/// A session removed on the node that had it, as `ClientRemoval.Outcome` there, and which node.
struct RemovedElsewhereBody: Encodable {
    let clientID: String
    let user: String?
    let disconnected: Bool
    let sessionEnded: Bool
    /// That node's journal's last seq once it was done.
    let seq: UInt64
    let node: String

    init(clientID: String, answer: SessionRemovalAnswer) {
        self.clientID = clientID
        user = answer.removed?.user
        disconnected = answer.removed?.disconnected ?? false
        sessionEnded = answer.removed?.sessionEnded ?? false
        seq = answer.removed?.seq ?? 0
        node = answer.node
    }

    enum CodingKeys: String, CodingKey {
        case user, disconnected, seq, node
        case clientID = "client_id"
        case sessionEnded = "session_ended"
    }
}

struct RemovedClientsBody: Encodable {
    /// Whether the other nodes were asked to remove the user's sessions too.
    enum OtherNodes: String, Codable {
        /// Handed to Redis for them.
        case asked
        /// `?nodes=this`.
        case notAsked = "not_asked"
        /// Redis is away (or the publish queue full): only this node removed them.
        case unreachable
        /// This node shares nothing with others (no `redis_url`).
        case none
    }

    /// Another node's answer: the client ids of the sessions it removed, or why it could not.
    struct OtherNodeRemoval: Encodable {
        let node: String
        let count: Int
        let clients: [String]
        let error: String?

        init(_ answer: UserRemovalAnswer) {
            node = answer.node
            count = answer.clients.count
            clients = answer.clients
            error = answer.error
        }
    }

    let user: String
    /// This node's sessions.
    let count: Int
    let clients: [ClientRemoval.Outcome]
    let otherNodes: OtherNodes
    /// The other nodes' answers, by node id.
    let nodes: [OtherNodeRemoval]
    /// The nodes this one knew of (by their heartbeats) that did not answer in time.
    let unanswered: [String]
    /// This node's sessions and the other nodes' that answered.
    let total: Int

    init(user: String, clients: [ClientRemoval.Outcome], otherNodes: OtherNodes, collected: NodeAnswers<UserRemovalAnswer>.Collected) {
        self.user = user
        count = clients.count
        self.clients = clients
        self.otherNodes = otherNodes
        nodes = collected.answers.values.sorted { $0.node < $1.node }.map(OtherNodeRemoval.init)
        unanswered = collected.unanswered
        total = nodes.reduce(count) { $0 + $1.count }
    }

    enum CodingKeys: String, CodingKey {
        case user, count, clients, nodes, unanswered, total
        case otherNodes = "other_nodes"
    }
}
