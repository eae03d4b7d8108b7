/// The `data` of a `kline_update`: one bar of one code and period.
public struct KlineBar: Sendable, Hashable, Decodable {
    public let code: String
    /// `1m`, `5m`, `1d`, …
    public let period: String
    public let open: Double
    public let high: Double
    public let low: Double
    public let close: Double
    /// Volume within the bar.
    public let volume: Int64
    /// Bar start, UTC microseconds since 1970.
    public let start: Int64
    /// True when the bar is final; open bars are updated by later messages.
    public let closed: Bool
}
