/// A tick as a source delivers it (`POST /api/ticks`, Redis, another node, the simulator): the name,
/// the cumulative volume and the previous close may be left out.
///
/// The decider fills in what is left out from what the broker knows of the code (see
/// `Decider.resolve(_:in:)`), so the journaled `price_ticked` always holds complete values and a
/// replay never has to guess them again.
public struct FedTick: Sendable, Hashable {
    /// Stock code (`600000`).
    public var code: String
    /// Display name; nil when left out.
    public var name: String?
    /// Last price.
    public var price: Double
    /// Cumulative volume of the day; nil when left out.
    public var volume: Int64?
    /// Previous close; nil or 0 when the source does not know it.
    public var prevClose: Double?
    /// Time of the tick, UTC microseconds.
    public var timestamp: Int64

    /// Creates a tick that may leave out its name, volume and previous close.
    public init(code: String, name: String? = nil, price: Double, volume: Int64? = nil, prevClose: Double? = nil, timestamp: Int64) {
        self.code = code
        self.name = name
        self.price = price
        self.volume = volume
        self.prevClose = prevClose
        self.timestamp = timestamp
    }

    /// A tick that leaves nothing out.
    public init(_ tick: PriceTick) {
        self.init(code: tick.code, name: tick.name, price: tick.price, volume: tick.volume, prevClose: tick.prevClose, timestamp: tick.timestamp)
    }

    /// Whether the tick carries every field, so it needs nothing of the broker's knowledge.
    var isComplete: Bool { name != nil && volume != nil && prevClose != nil && prevClose != 0 }
}
