/// The `data` of an `alert`: one of the user's rules fired.
public struct AlertNotice: Sendable, Hashable, Decodable {
    public let ruleID: String
    public let code: String
    /// `above`, `below` or `change_pct`; nil if the rule was removed since.
    public let condition: String?
    /// The rule's threshold; nil if the rule was removed since.
    public let threshold: Double?
    /// The price that fired it.
    public let price: Double
    /// The rule's owner.
    public let user: String
    /// When it fired, UTC microseconds since 1970.
    public let triggeredAt: Int64

    enum CodingKeys: String, CodingKey {
        case code, condition, threshold, price, user
        case ruleID = "rule_id"
        case triggeredAt = "triggered_at"
    }
}
