/// Exponential backoff with jitter between reconnection attempts.
public struct ReconnectBackoff: Sendable, Hashable {
    /// The delay after the first failure.
    public var initial: Duration
    /// The cap the delay doubles up to.
    public var maximum: Duration
    private var attempt = 0

    /// Creates a backoff; the defaults are 100 ms doubling up to 5 s.
    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The next delay: half the current step plus a random share of the other half, so many
    /// sources that lost the same Redis do not reconnect in lockstep.
    public mutating func nextDelay<G: RandomNumberGenerator>(using generator: inout G) -> Duration {
        let step = min(initial * (1 << min(attempt, 30)), maximum)
        attempt += 1
        let half = step / 2
        let jitter = Double.random(in: 0...1, using: &generator)
        return half + half * jitter
    }

    /// The next delay, jittered with the system generator.
    public mutating func nextDelay() -> Duration {
        var generator = SystemRandomNumberGenerator()
        return nextDelay(using: &generator)
    }

    /// Starts over after a connection succeeded.
    public mutating func reset() { attempt = 0 }
}
