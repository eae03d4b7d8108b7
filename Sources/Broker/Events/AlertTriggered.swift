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

    /// Creates the payload.
    public init(ruleID: String, user: String, code: String, price: Double) {
        self.ruleID = ruleID
        self.user = user
        self.code = code
        self.price = price
    }

    enum CodingKeys: String, CodingKey {
        case ruleID = "rule_id"
        case user, code, price
    }
}
