import Logging
import NIOCore
import Synchronization

/// A log line that may come thousands of times a second (a client connecting in a loop, refused
/// each time): written at most once per `interval`, saying how many were left out since.
final class ThrottledLog: Sendable {
    private let interval: Int64
    private let state = Mutex<(loggedAt: Int64?, leftOut: Int)>((nil, 0))

    /// `interval` in microseconds.
    init(interval: Int64 = 10_000_000) {
        self.interval = interval
    }

    /// Logs `message` unless a line went out less than `interval` before `now` (µs on a monotonic
    /// clock); then only counts it.
    func notice(_ message: @autoclosure () -> Logger.Message, metadata: Logger.Metadata, logger: Logger, now: Int64) {
        let leftOut = state.withLock { state -> Int? in
            if let last = state.loggedAt, now - last < interval {
                state.leftOut += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.leftOut
        }
        guard let leftOut else { return }
        var metadata = metadata
        if leftOut > 0 { metadata["left_out_since_last"] = "\(leftOut)" }
        logger.notice(message(), metadata: metadata)
    }
}
