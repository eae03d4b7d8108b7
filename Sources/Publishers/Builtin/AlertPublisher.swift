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
            let notice = AlertNotice(triggered: triggered, ruleNow: projection.alerts.rule(id: triggered.ruleID), at: recorded.timestamp)
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

    /// The notice for a firing journaled at `timestamp`, with the rule's condition and threshold as
    /// it fired, live and on resume alike, whatever became of the rule since.
    ///
    /// A firing journaled before event format 2 does not hold them: its notice takes them from
    /// `ruleNow`, the rule as it is now (none when it was removed), the best a replay of such a row can do.
    public init(triggered: AlertTriggered, ruleNow: AlertRule?, at timestamp: Int64) {
        ruleID = triggered.ruleID
        code = triggered.code
        if let condition = triggered.condition, let threshold = triggered.threshold {
            self.condition = condition.rawValue
            self.threshold = threshold
        } else {
            condition = ruleNow?.condition.rawValue
            threshold = ruleNow?.threshold
        }
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
