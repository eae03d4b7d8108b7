import Broker

/// Sends `alert` to every connection of a rule's user when the rule fires.
///
/// Rules are evaluated on every tick (only the rules of the tick's code) where the tick is
/// decided: the decider journals `alert_triggered` right after the `price_ticked` that crossed,
/// in the same commit (`AlertBook.firings(for:)`). A fired rule stays quiet until a tick that
/// clears its condition re-arms it (in the projection), or, for a change-percent rule, its code's
/// first tick of a new trading day. Deciding firings here, after the batch
/// was applied, saw the armed state after the last tick of a batch, not after each tick.
public final class AlertPublisher: Publisher {
    public let name = "alert"
    public let kinds: Set<EventKind> = [.alertTriggered]

    public init() {}

    public func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws {
        for recorded in events {
            guard case .alertTriggered(let triggered) = recorded.event else { continue }
            let rule = projection.alerts.rule(id: triggered.ruleID)
            let notice = AlertNotice(triggered: triggered, rule: rule, at: recorded.timestamp)
            sink.send(.message(type: "alert", data: notice), seq: recorded.seq, toUser: triggered.user)
        }
    }
}

/// The `data` of an `alert` message.
public struct AlertNotice: Encodable, Sendable {
    public let ruleID: String
    public let code: String
    public let condition: String?
    public let threshold: Double?
    public let price: Double
    public let user: String
    public let triggeredAt: Int64

    /// The notice for a firing of `rule` journaled at `timestamp`.
    public init(triggered: AlertTriggered, rule: AlertRule?, at timestamp: Int64) {
        ruleID = triggered.ruleID
        code = triggered.code
        condition = rule?.condition.rawValue
        threshold = rule?.threshold
        price = triggered.price
        user = triggered.user
        triggeredAt = timestamp
    }

    enum CodingKeys: String, CodingKey {
        case code, condition, threshold, price, user
        case ruleID = "rule_id"
        case triggeredAt = "triggered_at"
    }
}
