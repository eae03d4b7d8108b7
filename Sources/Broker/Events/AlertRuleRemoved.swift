/// Payload of `alert_rule_removed`.
public struct AlertRuleRemoved: Sendable, Hashable, Codable {
    /// Rule id.
    public var ruleID: String
    /// Owner, recorded so an audit shows who removed it.
    public var user: String

    /// Creates the payload.
    public init(ruleID: String, user: String) {
        self.ruleID = ruleID
        self.user = user
    }

    enum CodingKeys: String, CodingKey {
        case ruleID = "rule_id"
        case user
    }
}
