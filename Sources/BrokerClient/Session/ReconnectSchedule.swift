/// How long to wait before each reconnection attempt: exponential, capped, jittered, limited.
///
/// With the defaults the waits are about 2 s, 4 s, 8 s, 16 s, then 30 s, each within ±20 %, so
/// many clients that lost the same broker do not all come back in the same instant.
public struct ReconnectSchedule: Sendable, Hashable {
    /// The wait before the first reconnection attempt.
    public var initialDelay: Duration
    /// What each further wait is multiplied by.
    public var multiplier: Double
    /// The longest wait.
    public var maximumDelay: Duration
    /// The share of each wait that is randomized, from 0 (none) to 1: a wait is
    /// `delay × (1 ± jitter)`, never above `maximumDelay`.
    public var jitter: Double
    /// Consecutive failed attempts after which the client gives up; nil retries forever.
    public var maximumAttempts: Int?

    /// A schedule; the defaults are 2 s doubling up to 30 s, ±20 %, at most 10 attempts in a row.
    public init(
        initialDelay: Duration = .seconds(2), multiplier: Double = 2, maximumDelay: Duration = .seconds(30),
        jitter: Double = 0.2, maximumAttempts: Int? = 10
    ) {
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.maximumDelay = maximumDelay
        self.jitter = jitter
        self.maximumAttempts = maximumAttempts
    }

    /// The wait before attempt `attempt` (1 for the first reconnection), or nil when the attempts
    /// are used up. `random` is a number in 0...1 (0.5 gives the unjittered delay).
    public func delay(beforeAttempt attempt: Int, random: Double) -> Duration? {
        guard attempt >= 1 else { return .zero }
        if let maximumAttempts, attempt > maximumAttempts { return nil }
        let cap = maximumDelay.seconds
        // Multiplying step by step stops at the cap, so a large attempt number cannot overflow.
        var step = initialDelay.seconds
        for _ in 1..<attempt where step < cap { step *= multiplier }
        step = min(step, cap)
        let spread = min(max(jitter, 0), 1)
        let jittered = step * (1 + spread * (2 * min(max(random, 0), 1) - 1))
        // Whole microseconds: exact enough for a wait, and equal delays compare equal.
        return .microseconds(Int64((min(jittered, cap) * 1_000_000).rounded()))
    }

    /// The wait before `attempt`, jittered with `generator`.
    public func delay<G: RandomNumberGenerator>(beforeAttempt attempt: Int, using generator: inout G) -> Duration? {
        delay(beforeAttempt: attempt, random: Double.random(in: 0...1, using: &generator))
    }
}
