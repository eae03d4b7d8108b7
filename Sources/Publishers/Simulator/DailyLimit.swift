import Broker

/// How far an A-share may move in a day from its previous close, as its exchange sets it: ±10 % on
/// the main boards, ±20 % on ChiNext (30xxxx) and STAR (688xxx, its depositary receipts 689xxx),
/// ±30 % in Beijing. A main-board stock under risk warning (ST, *ST) moves ±10 % too: Shanghai and
/// Shenzhen widened its ±5 % to the board's ±10 % from 7 July 2025.
struct DailyLimit: Sendable, Equatable {
    /// The limit in percent of the previous close.
    let percent: Int64

    /// The limit of `code`; a code of no board (not an A-share) gets the main boards' ±10 %.
    static func of(code: String) -> DailyLimit {
        switch Board.of(code: code) {
        case .bj: return DailyLimit(percent: 30)
        case .sz where code.hasPrefix("30"), .sh where code.hasPrefix("688") || code.hasPrefix("689"): return DailyLimit(percent: 20)
        case .sh, .sz, nil: return DailyLimit(percent: 10)
        }
    }

    /// The limit-down and limit-up prices: the previous close × (1 ∓ limit), rounded half up to the
    /// cent as the exchanges do. Computed in whole cents, since in binary 1.15 × 1.1 falls just short
    /// of the 1.265 that rounds up to 1.27.
    func prices(around prevClose: Double) -> (lowest: Double, highest: Double) {
        let cents = Cents.of(prevClose)
        return (Cents.price((cents * (100 - percent) + 50) / 100), Cents.price((cents * (100 + percent) + 50) / 100))
    }
}
