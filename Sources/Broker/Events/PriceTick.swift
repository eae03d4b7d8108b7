/// Payload of `price_ticked`: the latest trade price of one code.
public struct PriceTick: Sendable, Hashable, Codable {
    /// Stock code (`600000`).
    public var code: String
    /// Display name.
    public var name: String
    /// Last price.
    public var price: Double
    /// Cumulative volume.
    public var volume: Int64
    /// Previous close; 0 when unknown.
    public var prevClose: Double
    /// Source time of the tick, UTC microseconds.
    public var timestamp: Int64

    /// Creates a tick.
    public init(code: String, name: String, price: Double, volume: Int64, prevClose: Double, timestamp: Int64) {
        self.code = code
        self.name = name
        self.price = price
        self.volume = volume
        self.prevClose = prevClose
        self.timestamp = timestamp
    }

    /// Price minus previous close; 0 when the previous close is unknown (0: no tick of the code
    /// gave one), as `changePercent` is, rather than the whole price.
    public var change: Double { prevClose == 0 ? 0 : price - prevClose }

    /// Change in percent of the previous close; 0 when the previous close is unknown.
    public var changePercent: Double {
        prevClose == 0 ? 0 : (price - prevClose) / prevClose * 100
    }

    /// `changePercent` to the two decimals clients are shown (`change_percent`).
    public var shownChangePercent: Double { (changePercent * 100).rounded() / 100 }

    enum CodingKeys: String, CodingKey {
        case code, name, price, volume
        case prevClose = "prev_close"
        case timestamp
    }
}
