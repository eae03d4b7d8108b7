import Broker
import Foundation
import Hummingbird
import Journal
import Publishers

/// An operator's request about sessions on other nodes (a client connected to another node behind
/// nginx, a user's connections on every node): handed to the other nodes through Redis, each of
/// which answers with what it has or did, so that any node answers for all.
extension APIRoutes {
    /// A request handed to the other nodes, whose answers are awaited.
    struct AskedNodes<Answer: NodeAnswer> {
        let pending: NodeAnswers<Answer>.Pending
        /// The nodes this one knows (by their heartbeats) when it asked: those waited for.
        let nodes: Set<String>
        /// When it was asked.
        let asked: ContinuousClock.Instant
        /// When the wait ends, at the latest.
        let deadline: ContinuousClock.Instant
        /// The request's wire key, which names it in metrics (`NodeRequestMetrics`).
        let kind: String

        /// Waits for the answers of `nodes` until `deadline`, or only until an answer is `enough`.
        func collect(enough: (Answer) -> Bool = { _ in false }) async -> NodeAnswers<Answer>.Collected {
            let collected = await pending.collect(from: nodes, until: deadline, enough: enough)
            // Nodes that had not answered when the answer looked for came were not missed.
            let missed = collected.answers.values.contains(where: enough) ? 0 : collected.unanswered.count
            NodeRequestMetrics.ended(kind, waited: ContinuousClock.now - asked, missed: missed)
            return collected
        }
    }

    /// Hands `request` (made with the request id and the time) to the other nodes, listening for
    /// their answers in `registry` first; nil when it cannot go out (Redis is away, or the
    /// publisher's queue full). The wait for the answers ends `redis_answer_wait` from now.
    func askOtherNodes<Answer: NodeAnswer>(
        _ registry: NodeAnswers<Answer>, through broadcaster: RedisBroadcaster, _ request: (_ requestID: String, _ now: Int64) -> SharedUpdate
    ) -> AskedNodes<Answer>? {
        let now = WallClock.microsecondsNow()
        let pending = registry.open()
        let update = request(pending.requestID, now)
        let kind = update.requestKind ?? "other"
        guard broadcaster.offer(update) else {
            pending.close()
            NodeRequestMetrics.unreachable(kind)
            return nil
        }
        let asked = ContinuousClock.now
        return AskedNodes(
            pending: pending, nodes: Set(runtime.cluster.nodes(at: now).map(\.heartbeat.origin.node)),
            asked: asked, deadline: asked + runtime.answerWait, kind: kind)
    }

    /// Hands `request` about `clientID`, a session this node does not have, to the other nodes and
    /// waits for the answers of those this node knows, until one has the session (`having`; client
    /// ids are random per node: the one that has it, but for a rare collision, where the first to
    /// answer is taken). Returns that answer; throws 503 `nodes_unreachable` when the request
    /// cannot go out, 404 `unknown_client` when no node that answered has it (naming those that
    /// answered and those that did not in time).
    func askOtherNodes<Answer: NodeAnswer>(
        about clientID: String, answers registry: NodeAnswers<Answer>, through broadcaster: RedisBroadcaster,
        having hasSession: (Answer) -> Bool, request: (_ requestID: String, _ now: Int64) -> SharedUpdate
    ) async throws -> Answer {
        guard let asked = askOtherNodes(registry, through: broadcaster, request) else {
            throw APIError(
                status: .serviceUnavailable, error: "nodes_unreachable",
                details: "no session \(clientID) on this node, and the other nodes cannot be asked (Redis is away): ask the node the client is"
                    + " connected to, or again once Redis is back")
        }
        let collected = await asked.collect(enough: hasSession)
        // The wait ends at the first answer with the session: there is at most one.
        if let having = collected.answers.values.first(where: hasSession) { return having }
        let answered = collected.answers.keys.sorted()
        let unanswered = collected.unanswered.isEmpty ? "" : "; not answered in time: \(collected.unanswered.joined(separator: ", "))"
        throw APIError(
            status: .notFound, error: "unknown_client",
            details: "no session \(clientID) on this node or on the \(answered.count) other nodes that answered"
                + " (\(answered.isEmpty ? "none" : answered.joined(separator: ", ")))\(unanswered)")
    }

    /// Asks the other nodes for `clientID`'s session, which this node does not have, and answers
    /// with it as the node that has it shows it, and that node's id (`node`).
    func lookUpOnAnotherNode(_ clientID: String, through broadcaster: RedisBroadcaster) async throws -> Response {
        let answer = try await askOtherNodes(about: clientID, answers: runtime.sessionLookupAnswers, through: broadcaster, having: \.hasSession) {
            requestID, _ in
            .sessionLookedUp(SessionLookup(.client(clientID), requestedOn: runtime.configuration.nodeID, requestID: requestID))
        }
        if let error = answer.error {
            throw APIError(status: .badGateway, error: "lookup_failed", details: "on node \(answer.node): \(error)")
        }
        guard let body = answer.body, let session = try? JSONDecoder().decode(ClientBody.self, from: Data(body.utf8)) else {
            throw APIError(status: .badGateway, error: "lookup_failed", details: "node \(answer.node) answered with something that is not a session")
        }
        return JSONResponse.make(ClientElsewhereBody(session: session.session, connection: session.connection, node: answer.node))
    }
}

extension NodeAnswers<SessionLookupAnswer>.Collected {
    /// What the nodes that have something answered to `lookup`, decoded as `Body`, by node id;
    /// the nodes that could not send theirs (too large) or sent what is not a `Body` (`what`) in
    /// `errors`.
    func bodies<Body: Decodable>(for lookup: SessionLookup.Target, as _: Body.Type, what: String) -> (bodies: [Body], errors: [ClientsBody.NodeError]) {
        var bodies: [Body] = []
        var errors: [ClientsBody.NodeError] = []
        for answer in answers.values.sorted(by: { $0.node < $1.node }) where answer.target == lookup && answer.hasSession {
            guard let text = answer.body, let body = try? JSONDecoder().decode(Body.self, from: Data(text.utf8)) else {
                errors.append(.init(node: answer.node, error: answer.error ?? "answered with something that is not \(what)"))
                continue
            }
            bodies.append(body)
        }
        return (bodies, errors)
    }
}

extension SessionLookup {
    /// Answers another node's lookup: with the session, the user's or every connection, the
    /// target's subscribers or every subscription, when this node has any.
    func answer(on runtime: BrokerRuntime, store: EventStore) {
        NodeRequestMetrics.received(target.requestKind, .answered)
        Task {
            var answer = answer(from: runtime.configuration.nodeID)
            let found: (any Encodable)? =
                switch target {
                case .client(let clientID): await APIRoutes.clientBody(of: clientID, runtime: runtime, store: store)
                case .user(let user):
                    await APIRoutes.clientsBody(ofUser: user, listingSubscriptions: !countsSubscriptions, runtime: runtime, store: store)
                        .nonEmpty
                case .connections:
                    await APIRoutes.clientsBody(
                        ofUser: nil, first: first, listingSubscriptions: !countsSubscriptions, runtime: runtime, store: store
                    ).nonEmpty
                case .subscribers(let type, let target):
                    await APIRoutes.subscriptionsBody(.init(type: type, target: target), runtime: runtime, store: store).nonEmpty
                case .subscriptions(let type):
                    // Every row: the node asked sums them over the nodes before it ranks and cuts.
                    await APIRoutes.subscriptionsBody(
                        .init(type: type, limit: SubscriptionAudience.maxLimit), runtime: runtime, store: store).nonEmpty
                }
            var messages = [answer]
            if let found {
                let json = JSONResponse.encode(found)
                if let parts = answer.carrying(String(decoding: json, as: UTF8.self)) {
                    messages = parts
                } else {
                    let most = SessionLookupAnswer.maxParts * SessionLookupAnswer.maxBodyBytes
                    answer.error = "the answer takes \(json.count) bytes, more than the \(most >> 20) MiB an answer may carry:"
                        + " ask node \(runtime.configuration.nodeID) itself"
                    messages = [answer]
                }
            }
            // In order, and no part after one that could not go: the rest would be of no use.
            for message in messages {
                guard runtime.broadcaster?.offer(.sessionLookupAnswered(message)) == true else { break }
            }
        }
    }
}

/// A session another node has, as it shows it, and which node.
struct ClientElsewhereBody: Encodable {
    let session: StateReport.Client
    let connection: ClientRow?
    let node: String
}
