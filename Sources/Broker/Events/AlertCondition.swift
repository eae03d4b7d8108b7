/// When an alert rule fires.
public enum AlertCondition: String, Sendable, Hashable, Codable, CaseIterable {
    /// Price at or above the threshold.
    case above
    /// Price at or below the threshold.
    case below
    /// Absolute change percent at or above the threshold.
    case changePercent = "change_pct"
}
