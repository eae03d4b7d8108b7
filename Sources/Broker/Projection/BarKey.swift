/// Identifies the latest k-line bar of one code and period.
public struct BarKey: Sendable, Hashable, Comparable {
    /// Stock code.
    public var code: String
    /// Bar period (`1m`, `1d`, ...).
    public var period: String

    /// Creates a key.
    public init(code: String, period: String) {
        self.code = code
        self.period = period
    }

    /// Orders by code, then period, for deterministic serialization.
    public static func < (lhs: Self, rhs: Self) -> Bool {
        lhs.code != rhs.code ? lhs.code < rhs.code : lhs.period < rhs.period
    }
}
