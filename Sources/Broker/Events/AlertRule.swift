/// Payload of `alert_rule_set`: a user's price alert on one code.
public struct AlertRule: Sendable, Hashable, Codable {
    /// Rule id, unique across users.
    public var id: String
    /// Owner.
    public var user: String
    /// Stock code watched.
    public var code: String
    /// Condition compared against each tick.
    public var condition: AlertCondition
    /// Price, or percent for `change_pct`.
    public var threshold: Double

    /// Creates a rule.
    public init(id: String, user: String, code: String, condition: AlertCondition, threshold: Double) {
        self.id = id
        self.user = user
        self.code = code
        self.condition = condition
        self.threshold = threshold
    }

    /// Whether the tick satisfies the condition (the tick's code is not checked).
    public func isMet(by tick: PriceTick) -> Bool {
        verdict(on: tick) == true
    }

    /// Whether the tick satisfies the condition, or nil when the tick cannot tell: a change
    /// percent rule learns nothing from a tick without a previous close (0 = unknown), so such a
    /// tick neither fires it nor re-arms it. A change percent is met as computed or as clients are
    /// shown it: 10 → 10.2 computes to 1.9999999999999929 % and shows as 2 %, which meets 2.
    public func verdict(on tick: PriceTick) -> Bool? {
        switch condition {
        case .above: tick.price >= threshold
        case .below: tick.price <= threshold
        case .changePercent: tick.prevClose == 0 ? nil : max(abs(tick.changePercent), abs(tick.shownChangePercent)) >= threshold
        }
    }
}
