import Foundation

/// A message from the broker, decoded from its JSON text frame (SPEC §4).
public enum BrokerMessage: Sendable, Hashable {
    /// The session was opened or resumed (reported as a connection state, not on `messages`).
    case connected(Connected)
    /// A subscription was recorded at `seq` (every push before it has arrived); a `priceUpdate`
    /// snapshot follows. A broker older than the seq on replies sends none.
    case subscribed(Subscription, seq: UInt64?)
    /// A subscription was removed at `seq` (every push before it has arrived).
    case unsubscribed(Subscription, seq: UInt64?)
    /// Latest prices of a subscription's codes.
    case priceUpdate(PriceUpdate)
    /// A bar of a subscribed stock, open or closed.
    case klineUpdate(Delivery<KlineBar>)
    /// A news item of a subscribed category or stock.
    case newsUpdate(Delivery<NewsItem>)
    /// One of the user's alert rules fired.
    case alert(Delivery<AlertNotice>)
    /// An alert rule was set (answer to `setAlert`).
    case alertSet(AlertRule)
    /// An alert rule was removed (answer to `removeAlert`).
    case alertRemoved(ruleID: String)
    /// The user's alert rules (answer to `listAlerts`).
    case alertRules([AlertRule])
    /// Answer to a ping (consumed by the heartbeat, not on `messages`).
    case pong
    /// A request was refused, or something the client should know.
    case error(ServerError)
    /// A message type this library does not model (a custom publisher's, say), as JSON text.
    case other(type: String, seq: UInt64?, json: String)

    /// The journal position the message reports, if it carries one.
    public var seq: UInt64? {
        switch self {
        case .connected(let connected): connected.seq
        case .priceUpdate(let update): update.seq
        case .klineUpdate(let delivery): delivery.seq
        case .newsUpdate(let delivery): delivery.seq
        case .alert(let delivery): delivery.seq
        case .subscribed(_, let seq), .unsubscribed(_, let seq): seq
        case .other(_, let seq, _): seq
        case .alertSet, .alertRemoved, .alertRules, .pong, .error: nil
        }
    }

    /// Decodes one text frame.
    public static func decode(_ text: String) throws(MessageDecodingError) -> BrokerMessage {
        try decodeReply(text).message
    }

    /// Decodes one text frame with the request id it echoes: nil for a push, and for every reply
    /// of a broker older than request ids.
    static func decodeReply(_ text: String) throws(MessageDecodingError) -> (message: BrokerMessage, requestID: UInt64?) {
        let data = Data(text.utf8)
        let decoder = JSONDecoder()
        let head: Head
        do {
            head = try decoder.decode(Head.self, from: data)
        } catch {
            throw MessageDecodingError(text: text, reason: "not a JSON object with a string \"type\": \(error)")
        }
        let message: BrokerMessage
        do {
            switch head.type {
            case "connected": message = .connected(try decoder.decode(Connected.self, from: data))
            case "subscribed": message = .subscribed(try decoder.decode(SubscriptionReply.self, from: data).subscription, seq: head.seq)
            case "unsubscribed": message = .unsubscribed(try decoder.decode(SubscriptionReply.self, from: data).subscription, seq: head.seq)
            case "price_update": message = .priceUpdate(try decoder.decode(PriceUpdate.self, from: data))
            case "kline_update": message = .klineUpdate(try decoder.decode(Delivery<KlineBar>.self, from: data))
            case "news_update": message = .newsUpdate(try decoder.decode(Delivery<NewsItem>.self, from: data))
            case "alert": message = .alert(try decoder.decode(Delivery<AlertNotice>.self, from: data))
            case "alert_set": message = .alertSet(try decoder.decode(AlertRule.self, from: data))
            case "alert_removed": message = .alertRemoved(ruleID: try decoder.decode(AlertRemoved.self, from: data).ruleID)
            case "alerts": message = .alertRules(try decoder.decode(AlertList.self, from: data).rules)
            case "pong": message = .pong
            case "error": message = .error(try decoder.decode(ServerError.self, from: data))
            default: message = .other(type: head.type, seq: head.seq, json: text)
            }
        } catch {
            throw MessageDecodingError(text: text, reason: "a \(head.type) message of an unexpected shape: \(error)")
        }
        return (message, head.id)
    }

    private struct Head: Decodable {
        let type: String
        let seq: UInt64?
        /// The request id a reply echoes. The broker echoes the ids this client sends, whole
        /// numbers; an id of another shape cannot come back, and would read as none rather than
        /// make the message undecodable.
        let id: UInt64?

        enum CodingKeys: String, CodingKey { case type, seq, id }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            type = try container.decode(String.self, forKey: .type)
            seq = try container.decodeIfPresent(UInt64.self, forKey: .seq)
            id = try? container.decodeIfPresent(UInt64.self, forKey: .id)
        }
    }

    private struct SubscriptionReply: Decodable {
        let subscription: Subscription

        enum CodingKeys: String, CodingKey {
            case target
            case subscriptionType = "subscription_type"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            guard let subscription = try Subscription.decodeIfPresent(from: container, type: .subscriptionType, target: .target) else {
                throw DecodingError.keyNotFound(
                    CodingKeys.target, .init(codingPath: [], debugDescription: "a subscription reply needs a target"))
            }
            self.subscription = subscription
        }
    }

    private struct AlertRemoved: Decodable {
        let ruleID: String
        enum CodingKeys: String, CodingKey { case ruleID = "rule_id" }
    }

    private struct AlertList: Decodable {
        let rules: [AlertRule]
    }
}
