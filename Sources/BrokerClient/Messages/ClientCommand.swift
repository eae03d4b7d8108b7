import Foundation

/// A message the client sends to the broker, encoded as one JSON text frame.
enum ClientCommand: Sendable, Hashable {
    case subscribe(Subscription)
    /// Several subscriptions of one kind in one request (`targets`): the broker takes all or none,
    /// and confirms each with its own `subscribed`.
    case subscribeAll([Subscription])
    case unsubscribe(Subscription)
    case ping
    case setAlert(code: String, condition: AlertCondition, threshold: Double)
    case removeAlert(ruleID: String)
    case listAlerts
    /// A fresh token for the open connection, so the broker does not close it at the old one's `exp`.
    case refresh(token: String)

    /// The subscription a subscribe or unsubscribe request is about.
    var subscription: Subscription? {
        switch self {
        case .subscribe(let subscription), .unsubscribe(let subscription): subscription
        case .subscribeAll, .ping, .setAlert, .removeAlert, .listAlerts, .refresh: nil
        }
    }

    /// The subscriptions a subscribe or unsubscribe request is about, one or several.
    var subscriptions: [Subscription] {
        if case .subscribeAll(let subscriptions) = self { return subscriptions }
        return subscription.map { [$0] } ?? []
    }

    /// Whether sending this request asks for what `command` asks for (the same request, or a
    /// batch holding its subscribe).
    func covers(_ command: ClientCommand) -> Bool {
        guard case .subscribeAll(let subscriptions) = self, case .subscribe(let subscription) = command else { return self == command }
        return subscriptions.contains(subscription)
    }

    /// The JSON text of the message, carrying `id` for the broker to echo in its reply.
    func json(id: UInt64) -> String {
        var object: [String: Any]
        switch self {
        case .subscribe(let subscription):
            object = ["type": "subscribe", "subscription_type": subscription.kind.rawValue, "target": subscription.target]
        case .subscribeAll(let subscriptions):
            object = [
                "type": "subscribe", "subscription_type": subscriptions.first?.kind.rawValue ?? "stock",
                "targets": subscriptions.map(\.target),
            ]
        case .unsubscribe(let subscription):
            object = ["type": "unsubscribe", "subscription_type": subscription.kind.rawValue, "target": subscription.target]
        case .ping:
            object = ["type": "ping"]
        case .setAlert(let code, let condition, let threshold):
            object = ["type": "set_alert", "code": code, "condition": condition.rawValue, "threshold": threshold]
        case .removeAlert(let ruleID):
            object = ["type": "remove_alert", "rule_id": ruleID]
        case .listAlerts:
            object = ["type": "list_alerts"]
        case .refresh(let token):
            object = ["type": "refresh", "token": token]
        }
        object["id"] = id
        // Strings and finite numbers only: serialization cannot fail.
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
