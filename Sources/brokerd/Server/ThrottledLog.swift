import Logging
import NIOCore
import Synchronization

/// A log line that may come thousands of times a second (a client connecting in a loop, refused
/// each time): written at most once per `interval` for each key (a few kinds, such as the error
/// a refusal names, so a flood of one kind does not hide the others), saying how many were left
/// out since. What was left out after the last line is counted there only when another comes.
final class ThrottledLog: Sendable {
    private let interval: Int64
    private let state = Mutex<[String: (loggedAt: Int64, leftOut: Int)]>([:])

    /// `interval` in microseconds.
    init(interval: Int64 = 10_000_000) {
        self.interval = interval
    }

    /// Logs `message` at `level` unless a line of `key` went out less than `interval` before `now`
    /// (µs on a monotonic clock, by default the uptime clock's now); then only counts it.
    func log(
        _ message: @autoclosure () -> Logger.Message, key: String, metadata: Logger.Metadata, logger: Logger,
        now: Int64 = ThrottledLog.now(), level: Logger.Level = .notice
    ) {
        let leftOut = state.withLock { state -> Int? in
            if let last = state[key], now - last.loggedAt < interval {
                state[key]!.leftOut += 1
                return nil
            }
            defer { state[key] = (now, 0) }
            return state[key]?.leftOut ?? 0
        }
        guard let leftOut else { return }
        var metadata = metadata
        if leftOut > 0 { metadata["left_out_since_last"] = "\(leftOut)" }
        logger.log(level: level, message(), metadata: metadata)
    }

    /// Microseconds on the monotonic clock the intervals are measured on.
    static func now() -> Int64 {
        Int64(NIODeadline.now().uptimeNanoseconds / 1_000)
    }
}
