/// Payload of `kline_updated`: the current (or just closed) bar of one code and period.
public struct KlineBar: Sendable, Hashable, Codable {
    /// Stock code.
    public var code: String
    /// Bar period (`1m`, `5m`, `1d`, ...).
    public var period: String
    /// Opening price.
    public var open: Double
    /// Highest price.
    public var high: Double
    /// Lowest price.
    public var low: Double
    /// Closing (or latest) price.
    public var close: Double
    /// Volume within the bar.
    public var volume: Int64
    /// Bar start, UTC microseconds.
    public var start: Int64
    /// True when this event closes the bar.
    public var closed: Bool

    /// Creates a bar.
    public init(
        code: String, period: String, open: Double, high: Double, low: Double, close: Double,
        volume: Int64, start: Int64, closed: Bool
    ) {
        self.code = code
        self.period = period
        self.open = open
        self.high = high
        self.low = low
        self.close = close
        self.volume = volume
        self.start = start
        self.closed = closed
    }
}
