import Synchronization

/// The live state and counters of one tick source, written by its reader threads.
///
/// A `Mutex` is the owner here because the writers are plain threads, not tasks: each update is a
/// few field writes, and readers (`/readyz`, stats) want one consistent copy.
final class RedisSourceStatus: Sendable {
    /// Which of the source's connections a state change is about.
    enum Connection: Sendable {
        /// The subscription of the tick channel and the other data channels.
        case channel
        /// The subscription of the nodes' removals and heartbeats channels.
        case control
        case stream, log

        /// Its name in the metrics (`brokerd_redis_source_up{reader}`) and in its Redis client name.
        var name: String {
            switch self {
            case .channel: "channel"
            case .control: "control"
            case .stream: "stream"
            case .log: "log"
            }
        }
    }

    /// What gets logged at most once per interval.
    enum Throttled: Sendable { case malformed, deliveryFailure, connectionFailure, nodeIDConflict, unsigned, replayed }

    private struct Throttle {
        var lastLogged: ContinuousClock.Instant?
        var suppressed = 0
    }

    private struct State {
        var snapshot: RedisSourceSnapshot
        var throttles: [Throttled: Throttle] = [:]
        /// Whether a session of the shared log's reader has failed since the start.
        var logFailedOnce = false

        mutating func refreshLogCatchingUp() {
            guard let logState = snapshot.logState, !snapshot.logCaughtUp else {
                snapshot.logCatchingUp = false
                return
            }
            snapshot.logCatchingUp = switch logState {
            case .connected: true
            case .connecting, .stopped: !logFailedOnce
            case .backingOff: false
            }
        }
    }

    private let state: Mutex<State>
    private let logInterval: Duration

    init(
        channelConfigured: Bool, streamConfigured: Bool, logConfigured: Bool = false, controlConfigured: Bool = false,
        logInterval: Duration = .seconds(10)
    ) {
        var initial = State(snapshot: RedisSourceSnapshot(
            channelConfigured: channelConfigured, streamConfigured: streamConfigured, logConfigured: logConfigured,
            controlConfigured: controlConfigured))
        initial.refreshLogCatchingUp()
        state = Mutex(initial)
        self.logInterval = logInterval
    }

    /// A consistent copy of everything.
    var snapshot: RedisSourceSnapshot { state.withLock { $0.snapshot } }

    /// Records a connection's new state.
    func set(_ connection: Connection, _ newState: RedisSourceState) {
        state.withLock { state in
            switch connection {
            case .channel: state.snapshot.channelState = newState
            case .control: state.snapshot.controlState = newState
            case .stream: state.snapshot.streamState = newState
            case .log:
                state.snapshot.logState = newState
                if newState == .backingOff { state.logFailedOnce = true }
                state.refreshLogCatchingUp()
            }
            state.snapshot.refreshOverallState()
        }
    }

    /// Whether the shared log's reader is reading it now.
    var isReadingLog: Bool { state.withLock { $0.snapshot.logState == .connected } }

    /// Records that a stream's reader has read to its end (the backlog is in).
    func reachedEnd(_ connection: Connection) {
        guard connection == .log else { return }
        state.withLock { state in
            guard !state.snapshot.logCaughtUp else { return }
            state.snapshot.logCaughtUp = true
            state.refreshLogCatchingUp()
        }
    }

    /// Records that a connection is up; `afterFailure` counts it as a reconnect.
    func connected(_ connection: Connection, afterFailure: Bool) {
        set(connection, .connected)
        if afterFailure { update { $0.reconnects += 1 } }
    }

    /// Applies `body` to the counters.
    func update(_ body: (inout RedisSourceSnapshot) -> Void) {
        state.withLock { body(&$0.snapshot) }
    }

    /// Whether a message of this kind may be logged now; if so, also how many were held back since
    /// the last one. Keeps a flood of bad payloads or refused batches from flooding the log.
    func shouldLog(_ kind: Throttled) -> (log: Bool, suppressed: Int) {
        let now = ContinuousClock.now
        return state.withLock { state in
            var throttle = state.throttles[kind] ?? Throttle()
            defer { state.throttles[kind] = throttle }
            if let last = throttle.lastLogged, now - last < logInterval {
                throttle.suppressed += 1
                return (false, 0)
            }
            let suppressed = throttle.suppressed
            throttle = Throttle(lastLogged: now, suppressed: 0)
            return (true, suppressed)
        }
    }
}
