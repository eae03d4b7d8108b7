/// When an alert rule fires.
public enum AlertCondition: String, Sendable, Hashable, CaseIterable {
    /// The price rises to or above the threshold.
    case above
    /// The price falls to or below the threshold.
    case below
    /// The change against the previous close, in percent, reaches the threshold.
    case changePercent = "change_pct"
}
