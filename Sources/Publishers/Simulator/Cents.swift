import Broker

/// Prices in whole cents, the A-share tick size.
enum Cents {
    /// `price` rounded half up to the cent, as a count of cents. A price no tick may carry
    /// (`FieldRules.priceRange`) is held within 0 and the highest one, so no conversion traps and
    /// no limit computed from it overflows.
    static func of(_ price: Double) -> Int64 {
        guard price.isFinite else { return 0 }
        return Int64((min(max(price, 0), FieldRules.priceRange.upperBound) * 100).rounded(.toNearestOrAwayFromZero))
    }

    /// `cents` as a price.
    static func price(_ cents: Int64) -> Double { Double(cents) / 100 }

    /// `price` on the cent grid.
    static func rounded(_ price: Double) -> Double { self.price(of(price)) }
}
