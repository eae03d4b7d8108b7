/// An alert rule as the broker confirms (`alert_set`) or lists it (`alerts`).
public struct AlertRule: Sendable, Hashable, Decodable {
    public let ruleID: String
    public let code: String
    /// `above`, `below` or `change_pct`.
    public let condition: String
    public let threshold: Double
    /// True when the rule fired and has not re-armed yet; nil in `alert_set`.
    public let triggered: Bool?

    enum CodingKeys: String, CodingKey {
        case code, condition, threshold, triggered
        case ruleID = "rule_id"
    }
}
