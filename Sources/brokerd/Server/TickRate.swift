import Journal
import Metrics
import Synchronization

/// Ticks ingested per second over the last few seconds, for stats.
final class TickRate: Sendable {
    private static let window = 5
    private let buckets = Mutex<[(second: Int64, count: Int)]>([])
    private let ingested = Atomic<UInt64>(0)
    private let ingestedCounter = Counter(label: "brokerd_ticks_ingested_total")

    /// Ticks ingested since start.
    var total: UInt64 { ingested.load(ordering: .relaxed) }

    func record(_ count: Int, at microseconds: Int64) {
        ingested.add(UInt64(count), ordering: .relaxed)
        ingestedCounter.increment(by: count)
        let second = microseconds / 1_000_000
        buckets.withLock { buckets in
            if let last = buckets.last, last.second == second {
                buckets[buckets.count - 1].count += count
            } else {
                buckets.append((second, count))
            }
            buckets.removeAll { $0.second <= second - Int64(Self.window) }
        }
    }

    var perSecond: Double {
        let now = WallClock.microsecondsNow() / 1_000_000
        let total = buckets.withLock { buckets in
            buckets.filter { $0.second > now - Int64(Self.window) && $0.second < now }.reduce(0) { $0 + $1.count }
        }
        return Double(total) / Double(Self.window - 1)
    }
}
