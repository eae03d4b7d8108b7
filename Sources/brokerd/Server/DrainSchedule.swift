/// How many of a stopping broker's clients are to be closed so far, when it drains them over
/// `shutdown_drain`: evenly over the period, the first at once, the last at its end, so the
/// clients reconnecting to the other nodes come a few at a time rather than all in one burst.
struct DrainSchedule: Sendable, Equatable {
    /// Clients connected when the drain began.
    let total: Int
    let period: Duration

    /// The clients closed once `elapsed` of the period has passed: a share of `total` rounded up
    /// (so the first goes at once), all of them from the end of the period on.
    func due(after elapsed: Duration) -> Int {
        guard total > 0, period > .zero, elapsed < period else { return total }
        let share = Double(max(Int64(0), elapsed.microseconds)) / Double(period.microseconds)
        return max(1, min(total, Int((Double(total) * share).rounded(.up))))
    }
}
