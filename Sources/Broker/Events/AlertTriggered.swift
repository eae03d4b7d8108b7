/// Payload of `alert_triggered`: the rule fired and stays quiet until re-armed.
public struct AlertTriggered: Sendable, Hashable, Codable {
    /// Rule id.
    public var ruleID: String
    /// Owner, who receives the alert.
    public var user: String
    /// Stock code.
    public var code: String
    /// Price that met the condition.
    public var price: Double
    /// The rule's condition when it fired: the alert says what was met even after the rule is
    /// replaced or removed. Nil in rows written before event format 2, which did not journal it.
    public var condition: AlertCondition?
    /// The rule's threshold when it fired; nil in rows written before event format 2.
    public var threshold: Double?

    /// Creates the payload.
    public init(
        ruleID: String, user: String, code: String, price: Double, condition: AlertCondition? = nil, threshold: Double? = nil
    ) {
        self.ruleID = ruleID
        self.user = user
        self.code = code
        self.price = price
        self.condition = condition
        self.threshold = threshold
    }

    /// The firing of `rule` at `price`, with the rule's condition and threshold as they are now.
    public init(firing rule: AlertRule, at price: Double) {
        self.init(
            ruleID: rule.id, user: rule.user, code: rule.code, price: price, condition: rule.condition, threshold: rule.threshold)
    }

    enum CodingKeys: String, CodingKey {
        case ruleID = "rule_id"
        case user, code, price, condition, threshold
    }
}
