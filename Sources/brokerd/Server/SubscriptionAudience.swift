import Broker
import Hummingbird
import HummingbirdCore

/// Who listens to what, for `GET /api/websocket/subscriptions`: every subscription that has
/// subscribers, with how many sessions hold it and how many of those are connected to this node
/// now (the rest are gone sessions within their resume window, whose subscriptions are kept).
enum SubscriptionAudience {
    struct Row: Encodable, Equatable, Sendable {
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

struct SubscriptionsBody: Encodable {
    /// Subscriptions that matched (more than `subscriptions` holds when the limit cut them).
    let count: Int
    let subscriptions: [SubscriptionAudience.Row]
}

extension APIRoutes {
    /// `GET /api/websocket/subscriptions[?type=&target=&limit=]`.
    func subscriptions(_ request: Request) async throws -> Response {
        let query = try SubscriptionAudience.query(request.uri)
        let store = try readyStore()
        // Only the index's map is taken on the store (a copy sharing its storage); the counting is
        // done after, so a large listing holds up no push.
        let subscribers = await store.read { $0.subscriptions.subscribersBySubscription }
        let connected = Set(runtime.registry.all.map(\.clientID))
        let (rows, matched) = SubscriptionAudience.rows(subscribers, matching: query, isConnected: connected.contains)
        return JSONResponse.make(SubscriptionsBody(count: matched, subscriptions: rows))
    }
}
