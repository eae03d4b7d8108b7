import Broker
import Foundation

/// A message a WebSocket client sent, parsed and checked for shape (not yet against broker state).
enum ClientRequest: Equatable {
    case subscribe(Subscription)
    case unsubscribe(Subscription)
    /// Several targets of one type in one message (`"targets":[…]`), all or none.
    case subscribeAll([Subscription])
    case unsubscribeAll([Subscription])
    case ping
    case setAlert(code: String, condition: AlertCondition, threshold: Double)
    case removeAlert(ruleID: String)
    case listAlerts
    /// A fresh token for the open connection (with auth on), so it is not closed at the old one's `exp`.
    case refresh(token: String)

    /// The `type` the client sent.
    var type: String {
        switch self {
        case .subscribe, .subscribeAll: "subscribe"
        case .unsubscribe, .unsubscribeAll: "unsubscribe"
        case .ping: "ping"
        case .setAlert: "set_alert"
        case .removeAlert: "remove_alert"
        case .listAlerts: "list_alerts"
        case .refresh: "refresh"
        }
    }

    /// Why a client message could not be understood; sent back as an `error` message.
    struct Rejection: Error, Equatable {
        let error: String
        let details: String
        /// The message's `id`, when it had a valid one: the error answers it.
        var id: RequestID?
    }

    static let knownTypes = ["subscribe", "unsubscribe", "ping", "set_alert", "remove_alert", "list_alerts", "refresh"]

    /// Parses one text frame, with the `id` its replies echo.
    static func parse(_ text: String, maxTargetLength: Int) throws(Rejection) -> IdentifiedRequest {
        let object = try jsonObject(text)
        let duplicate = DuplicateJSONKeys.first(in: text.utf8)
        // A repeated "id" has no one value to echo.
        let id = duplicate == "id" ? nil : try RequestID.from(object["id"])
        do throws(Rejection) {
            if let duplicate {
                throw Rejection(
                    error: "duplicate_key", details: "the key \"\(duplicate.prefix(64))\" appears twice in one object; send each key once")
            }
            return IdentifiedRequest(request: try request(in: object, maxTargetLength: maxTargetLength), id: id)
        } catch {
            throw Rejection(error: error.error, details: error.details, id: id)
        }
    }

    /// The `id` of a frame refused before it was parsed (over the rate limit), when it has a valid one.
    static func id(in message: some Collection<UInt8>) -> RequestID? {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(message))) as? [String: Any] else { return nil }
        return try? RequestID.from(object["id"])
    }

    private static func jsonObject(_ text: String) throws(Rejection) -> [String: Any] {
        do {
            let value = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            guard let dictionary = value as? [String: Any] else {
                throw Rejection(
                    error: "invalid_message", details: "expected a JSON object such as {\"type\":\"ping\"}, got \(kind(of: value))")
            }
            return dictionary
        } catch let rejection as Rejection {
            throw rejection
        } catch {
            throw Rejection(error: "invalid_json", details: "the message is not valid JSON; send one JSON object per text frame")
        }
    }

    private static func request(in object: [String: Any], maxTargetLength: Int) throws(Rejection) -> ClientRequest {
        guard let type = object["type"] as? String else {
            throw Rejection(error: "missing_type", details: "every message needs a string field \"type\": one of \(knownTypes.joined(separator: ", "))")
        }
        switch type {
        case "ping":
            return .ping
        case "list_alerts":
            return .listAlerts
        case "remove_alert":
            guard let ruleID = object["rule_id"] as? String, !ruleID.isEmpty else {
                throw Rejection(error: "missing_rule_id", details: "remove_alert needs a string field \"rule_id\" (from alert_set or list_alerts)")
            }
            return .removeAlert(ruleID: ruleID)
        case "set_alert":
            guard let code = object["code"] as? String, !code.isEmpty else {
                throw Rejection(error: "missing_code", details: "set_alert needs a string field \"code\", e.g. \"600519\"")
            }
            let conditions = AlertCondition.allCases.map(\.rawValue).joined(separator: ", ")
            guard let name = object["condition"] as? String, let condition = AlertCondition(rawValue: name) else {
                throw Rejection(error: "invalid_condition", details: "set_alert needs \"condition\": one of \(conditions)")
            }
            guard let threshold = number(object["threshold"]) else {
                throw Rejection(error: "invalid_threshold", details: "set_alert needs a number field \"threshold\"")
            }
            return .setAlert(code: code, condition: condition, threshold: threshold)
        case "refresh":
            guard let token = object["token"] as? String, !token.isEmpty else {
                throw Rejection(error: "missing_token", details: "refresh needs a string field \"token\": the new JWT")
            }
            return .refresh(token: token)
        case "subscribe", "unsubscribe":
            if object["targets"] != nil {
                let subscriptions = try subscriptions(in: object, maxTargetLength: maxTargetLength)
                return type == "subscribe" ? .subscribeAll(subscriptions) : .unsubscribeAll(subscriptions)
            }
            let subscription = try subscription(in: object, maxTargetLength: maxTargetLength)
            return type == "subscribe" ? .subscribe(subscription) : .unsubscribe(subscription)
        default:
            throw Rejection(
                error: "unknown_type",
                details: "unknown message type \"\(type.prefix(40))\"; expected one of \(knownTypes.joined(separator: ", "))")
        }
    }

    /// The most targets one message may name.
    static let maxTargets = 1_000

    /// The subscriptions of a message naming several targets of one type (`"targets":[…]`), in
    /// the order given, each once.
    private static func subscriptions(in object: [String: Any], maxTargetLength: Int) throws(Rejection) -> [Subscription] {
        guard object["target"] == nil else {
            throw Rejection(error: "invalid_target", details: "send \"target\" or \"targets\", not both")
        }
        guard let targets = object["targets"] as? [Any], !targets.isEmpty, targets.count <= maxTargets else {
            throw Rejection(
                error: "invalid_target", details: "\"targets\" must be an array of 1 to \(maxTargets) strings, e.g. [\"600519\",\"000001\"]")
        }
        let type = try subscriptionType(in: object)
        var subscriptions: [Subscription] = []
        var seen: Set<Subscription> = []
        for (index, target) in targets.enumerated() {
            guard let target = target as? String else {
                throw Rejection(error: "invalid_target", details: "targets[\(index)] is not a string")
            }
            let subscription = Subscription(type: type, target: try checked(target, maxTargetLength: maxTargetLength, at: "targets[\(index)]"))
            if seen.insert(subscription).inserted { subscriptions.append(subscription) }
        }
        return subscriptions
    }

    private static func subscription(in object: [String: Any], maxTargetLength: Int) throws(Rejection) -> Subscription {
        let type = try subscriptionType(in: object)
        guard let target = object["target"] as? String else {
            throw Rejection(error: "missing_target", details: "subscribe and unsubscribe need a string field \"target\" (or an array \"targets\")")
        }
        return Subscription(type: type, target: try checked(target, maxTargetLength: maxTargetLength, at: "target"))
    }

    /// `target` when it is one: not empty, at most `maxTargetLength` characters.
    private static func checked(_ target: String, maxTargetLength: Int, at field: String) throws(Rejection) -> String {
        guard !target.isEmpty else {
            throw Rejection(error: "invalid_target", details: "\(field) must not be empty")
        }
        guard FieldRules.length(target) <= maxTargetLength else {
            throw Rejection(error: "invalid_target", details: "\(field) is longer than \(maxTargetLength) characters")
        }
        return target
    }

    /// The message's `subscription_type`, `strategy` when it has none.
    private static func subscriptionType(in object: [String: Any]) throws(Rejection) -> SubscriptionType {
        let typeName: String
        switch object["subscription_type"] {
        case nil, is NSNull: typeName = SubscriptionType.strategy.rawValue
        case let name as String: typeName = name
        default:
            throw Rejection(error: "invalid_subscription_type", details: "subscription_type must be a string")
        }
        guard let type = SubscriptionType(rawValue: typeName) else {
            let known = SubscriptionType.allCases.map(\.rawValue).joined(separator: ", ")
            throw Rejection(
                error: "invalid_subscription_type", details: "unknown subscription_type \"\(typeName.prefix(40))\"; expected one of \(known)")
        }
        return type
    }

    /// A JSON number's value; nil for anything else, `true` and `false` included.
    ///
    /// `is Bool` cannot tell them apart: on Linux every NSNumber holding 0 or 1 (`1`, `0`, `1.0`)
    /// bridges to Bool. A JSON boolean is the NSNumber whose C type is `char` ("c"); numbers parse
    /// as integers or doubles.
    static func number(_ value: Any?) -> Double? {
        guard let number = value as? NSNumber, String(cString: number.objCType) != "c" else { return nil }
        return number.doubleValue
    }

    private static func kind(of value: Any) -> String {
        switch value {
        case is [Any]: "an array"
        case is String: "a string"
        case is NSNumber: "a number"
        case is NSNull: "null"
        default: "something else"
        }
    }
}

/// A request and the `id` its direct replies echo (nil: the client sent none).
struct IdentifiedRequest: Equatable {
    let request: ClientRequest
    let id: RequestID?
}
