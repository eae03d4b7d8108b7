import Synchronization

/// When each tick id was handed to the broker, on the monotonic clock.
///
/// The feeder appends as it posts; every client looks up the ids it receives. One lock, taken once
/// per received message, not once per entry.
final class SendTimeTable: Sendable {
    private let times: Mutex<[UInt64]>

    init(expectedTicks: Int) {
        var times: [UInt64] = []
        times.reserveCapacity(max(expectedTicks, 1_024))
        self.times = Mutex(times)
    }

    /// Records that ticks `ids` were sent at `nanoseconds`; ids must continue the ones recorded so far.
    func record(_ ids: ClosedRange<UInt64>, sentAt nanoseconds: UInt64) {
        times.withLock { times in
            precondition(UInt64(times.count) + 1 == ids.lowerBound, "tick ids must be recorded in order")
            times.append(contentsOf: repeatElement(nanoseconds, count: ids.count))
        }
    }

    /// Fills `sentAt` with the send time of each id in `ids` (0 for an id never sent).
    func lookUp(_ ids: [UInt64], into sentAt: inout [UInt64]) {
        sentAt.removeAll(keepingCapacity: true)
        times.withLock { times in
            for id in ids {
                let slot = Int(truncatingIfNeeded: id &- 1)
                sentAt.append(slot >= 0 && slot < times.count ? times[slot] : 0)
            }
        }
    }
}
