/// When to ping and when a connection is dead, from what was received and when.
///
/// A ping goes out every `pingInterval` whatever comes in (the broker times out clients that send
/// nothing). The connection is dead when nothing at all arrived within `pongTimeout` of a ping,
/// except while the client is not reading (its consumer is behind): then the pings go on, and the
/// wait for an answer starts again when it reads.
struct HeartbeatMonitor {
    enum Action: Equatable {
        /// Send a ping now.
        case ping
        /// Nothing to do before this instant.
        case wait(until: ContinuousClock.Instant)
        /// No answer to a ping in time.
        case dead
    }

    let pingInterval: Duration
    let pongTimeout: Duration
    private var nextPing: ContinuousClock.Instant
    /// The oldest ping with nothing received since.
    private var unansweredSince: ContinuousClock.Instant?
    /// Whether the reader waits for the consumer instead of reading.
    private var readerWaiting = false

    init(pingInterval: Duration, pongTimeout: Duration, start: ContinuousClock.Instant) {
        self.pingInterval = pingInterval
        self.pongTimeout = pongTimeout
        nextPing = start + pingInterval
    }

    /// Anything from the broker proves it alive.
    mutating func received() {
        unansweredSince = nil
    }

    /// The reader stopped reading until the consumer takes a message.
    mutating func readerWaits() {
        readerWaiting = true
    }

    /// The reader reads again: what was not read could not count as an answer.
    mutating func readerResumed() {
        readerWaiting = false
        unansweredSince = nil
    }

    /// What to do at `now`.
    mutating func poll(now: ContinuousClock.Instant) -> Action {
        if !readerWaiting, let unansweredSince, now >= unansweredSince + pongTimeout { return .dead }
        if now >= nextPing {
            nextPing = now + pingInterval
            if unansweredSince == nil { unansweredSince = now }
            return .ping
        }
        let answerDue = readerWaiting ? nil : unansweredSince.map { $0 + pongTimeout }
        return .wait(until: answerDue.map { min($0, nextPing) } ?? nextPing)
    }
}
