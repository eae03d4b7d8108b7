import Broker
import Hummingbird
import HummingbirdCore
import Publishers

/// Who listens to what, for `GET /api/websocket/subscriptions`: every subscription that has
/// subscribers, with how many sessions hold it and how many of those are connected to this node
/// now (the rest are gone sessions within their resume window, whose subscriptions are kept). With
/// a target named, or every node's asked for, the other nodes' subscribers are added (`merged`).
enum SubscriptionAudience {
    struct Row: Codable, Equatable, Sendable {
        let type: String
        let target: String
        /// Sessions that hold the subscription.
        let subscribers: Int
        /// Of those, the ones with a connection now.
        let connected: Int
        /// The sessions' ids, when one target was asked for.
        let clients: [String]?
    }

    /// What the request asks for.
    struct Query: Equatable, Sendable {
        var type: SubscriptionType?
        var target: String?
        var limit = SubscriptionAudience.defaultLimit
    }

    static let defaultLimit = 1_000
    static let maxLimit = 100_000

    /// The rows matching `query`, the most subscribed first (then by type and target), at most
    /// `query.limit` of them; and how many matched. Client ids are listed when a target is named.
    static func rows(
        _ subscribers: [Subscription: Set<String>], matching query: Query, isConnected: (String) -> Bool
    ) -> (rows: [Row], matched: Int) {
        let matching = subscribers.filter { subscription, _ in
            (query.type.map { subscription.type == $0 } ?? true) && (query.target.map { subscription.target == $0 } ?? true)
        }
        let ranked = matching.sorted { lhs, rhs in
            lhs.value.count != rhs.value.count ? lhs.value.count > rhs.value.count : lhs.key < rhs.key
        }
        let rows = ranked.prefix(query.limit).map { subscription, clientIDs in
            Row(
                type: subscription.type.rawValue, target: subscription.target, subscribers: clientIDs.count,
                connected: clientIDs.count(where: isConnected), clients: query.target == nil ? nil : clientIDs.sorted())
        }
        return (Array(rows), matching.count)
    }

    /// `rows` and other nodes' rows of the same query (one target, or all of each node's): each
    /// subscription's sessions and connections summed over the nodes, its client ids joined,
    /// ranked as `rows` ranks them. The other nodes' counts come from Redis: summed without
    /// overflowing (a forged answer's `Int.max` stays `Int.max`).
    static func merged(_ rows: [Row], _ others: [[Row]]) -> [Row] {
        func sum(_ a: Int, _ b: Int) -> Int {
            let (total, overflow) = a.addingReportingOverflow(b)
            return overflow ? (b < 0 ? Int.min : Int.max) : total
        }
        var byKey: [String: Row] = [:]
        for row in rows + others.joined() {
            let key = row.type + "\u{0}" + row.target
            guard let held = byKey[key] else {
                byKey[key] = row
                continue
            }
            byKey[key] = Row(
                type: row.type, target: row.target, subscribers: sum(held.subscribers, row.subscribers), connected: sum(held.connected, row.connected),
                clients: held.clients.map { ($0 + (row.clients ?? [])).sorted() } ?? row.clients)
        }
        return byKey.values.sorted { lhs, rhs in
            lhs.subscribers != rhs.subscribers ? lhs.subscribers > rhs.subscribers : (lhs.type, lhs.target) < (rhs.type, rhs.target)
        }
    }

    /// The query of `?type=&target=&limit=`; a type or limit that is not one is refused.
    static func query(_ uri: URI) throws -> Query {
        var query = Query()
        if let type = uri.formValue("type") {
            guard let known = SubscriptionType(rawValue: type) else {
                throw APIError.badRequest(
                    "invalid_type",
                    "type must be one of \(SubscriptionType.allCases.map(\.rawValue).joined(separator: ", ")), got '\(type.prefix(40))'")
            }
            query.type = known
        }
        if let target = uri.formValue("target") {
            guard !target.isEmpty else { throw APIError.badRequest("invalid_target", "target is empty; leave it out to list every target") }
            query.target = target
        }
        query.limit = try uri.limitValue(max: maxLimit) ?? query.limit
        return query
    }
}

struct SubscriptionsBody: Codable {
    /// Subscriptions that matched (more than `subscriptions` holds when the limit cut them).
    var count: Int
    var subscriptions: [SubscriptionAudience.Row]
    /// With a target named, or `?nodes=all`: whether the other nodes were asked for theirs.
    var otherNodes: RemovedClientsBody.OtherNodes?
    /// The nodes asked that did not answer in time.
    var unanswered: [String]?
    /// The nodes whose answers could not be read, and why.
    var errors: [ClientsBody.NodeError]?

    init(count: Int, subscriptions: [SubscriptionAudience.Row]) {
        self.count = count
        self.subscriptions = subscriptions
    }

    /// This, when it lists any subscription.
    var nonEmpty: SubscriptionsBody? { subscriptions.isEmpty ? nil : self }

    /// This with at most `limit` rows (`count` stays the number that matched).
    func limited(to limit: Int) -> SubscriptionsBody {
        var body = self
        body.subscriptions = Array(subscriptions.prefix(limit))
        return body
    }

    enum CodingKeys: String, CodingKey {
        case count, subscriptions, unanswered, errors
        case otherNodes = "other_nodes"
    }
}

extension APIRoutes {
    /// `GET /api/websocket/subscriptions[?type=&target=&limit=][&nodes=this|all]`: with a target,
    /// the subscribers on every node sharing through Redis (unless `?nodes=this`); without one,
    /// this node's subscriptions, or every node's with `?nodes=all`.
    func subscriptions(_ request: Request) async throws -> Response {
        let query = try SubscriptionAudience.query(request.uri)
        // A target's subscribers are few rows: asked of every node unless told otherwise. Every
        // subscription of every node could be many: only when asked for.
        let asksOthers = try ClientRemoval.asksOtherNodes(request) && (query.target != nil || request.uri.formValue("nodes") == "all")
        let store = try readyStore()
        guard asksOthers else {
            var body = await Self.subscriptionsBody(query, runtime: runtime, store: store)
            if query.target != nil { body.otherNodes = .notAsked }
            return JSONResponse.make(body)
        }
        // The whole list is summed over the nodes before it is ranked and cut to the limit.
        var whole = query
        if query.target == nil { whole.limit = SubscriptionAudience.maxLimit }
        var body = await Self.subscriptionsBody(whole, runtime: runtime, store: store)
        // No session can subscribe to a target that is not an id: nobody is asked about it.
        let impossibleTarget = query.target.flatMap { FieldRules.identifierProblem($0, maxLength: Limits().maxTargetLength) } != nil
        guard let broadcaster = runtime.broadcaster, !impossibleTarget else {
            let otherNodes: RemovedClientsBody.OtherNodes = runtime.broadcaster == nil ? .none : .notAsked
            body.otherNodes = otherNodes
            return JSONResponse.make(body.limited(to: query.limit))
        }
        let lookup: SessionLookup.Target = query.target.map { .subscribers(type: query.type, target: $0) } ?? .subscriptions(type: query.type)
        guard let asked = askOtherNodes(runtime.sessionLookupAnswers, through: broadcaster, { requestID, _ in
            .sessionLookedUp(SessionLookup(lookup, requestedOn: runtime.configuration.nodeID, requestID: requestID))
        }) else {
            body.otherNodes = .unreachable
            return JSONResponse.make(body.limited(to: query.limit))
        }
        let collected = await asked.collect()
        let (theirs, errors) = collected.bodies(for: lookup, as: SubscriptionsBody.self, what: "a list of subscriptions")
        body.subscriptions = SubscriptionAudience.merged(body.subscriptions, theirs.map(\.subscriptions))
        body.count = body.subscriptions.count
        body.otherNodes = .asked
        body.unanswered = collected.unanswered
        body.errors = errors.isEmpty ? nil : errors
        return JSONResponse.make(body.limited(to: query.limit))
    }

    /// This node's subscriptions matching `query`.
    static func subscriptionsBody(_ query: SubscriptionAudience.Query, runtime: BrokerRuntime, store: EventStore) async -> SubscriptionsBody {
        // Only the index's map is taken on the store (a copy sharing its storage); the counting is
        // done after, so a large listing holds up no push.
        let subscribers = await store.read { $0.subscriptions.subscribersBySubscription }
        let connected = Set(runtime.registry.all.map(\.clientID))
        let (rows, matched) = SubscriptionAudience.rows(subscribers, matching: query, isConnected: connected.contains)
        return SubscriptionsBody(count: matched, subscriptions: rows)
    }
}
