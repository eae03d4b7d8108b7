import Histogram

/// What one stretch of feeding achieved.
struct FeedReport: Sendable {
    /// Tick ids sent, or nil when none were.
    var ids: ClosedRange<UInt64>?
    var posts = 0
    var seconds = 0.0
    /// Round-trip time of each POST in microseconds.
    var postMicros = Histogram<UInt64>()

    var ticks: Int { ids?.count ?? 0 }
    var ticksPerSecond: Double { seconds > 0 ? Double(ticks) / seconds : 0 }
}
