/// A run of failures of one thing (a publisher's pushes, a source's batches), so a failure that
/// repeats on every batch is logged when it starts, then once a minute with how many, and when it
/// ends, instead of on every batch.
public struct FailureStreak: Sendable {
    /// How often a streak that goes on is logged again.
    public static let reminderInterval: Duration = .seconds(60)

    /// Failures since the last success.
    public private(set) var failures = 0
    private var lastLogged: ContinuousClock.Instant?

    public init() {}

    /// Counts a failure; returns how many failures the streak has when this one should be logged
    /// (the first, then the first after each `reminderInterval`), else nil.
    public mutating func failed(at now: ContinuousClock.Instant = .now) -> Int? {
        failures += 1
        if let lastLogged, now - lastLogged < Self.reminderInterval { return nil }
        lastLogged = now
        return failures
    }

    /// Ends the streak; returns how many failures it had, or nil when there was none.
    public mutating func succeeded() -> Int? {
        guard failures > 0 else { return nil }
        defer { self = FailureStreak() }
        return failures
    }
}
