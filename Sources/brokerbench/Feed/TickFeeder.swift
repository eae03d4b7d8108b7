/// Posts ticks to `POST /api/ticks` at a set rate, in batches of the ticks due every interval.
///
/// Pacing follows the schedule, not the previous POST: when a POST is slow the next batch carries
/// every tick that fell due meanwhile, so the achieved rate shows whether the broker kept up.
struct TickFeeder {
    let strategy: BenchStrategy
    let sendTimes: SendTimeTable
    /// Time between two POSTs when the broker keeps up.
    let interval: Duration
    /// Upper bound of ticks in one POST.
    let maximumBatch: Int
    /// The id the next tick will carry.
    private(set) var nextID: UInt64 = 1

    init(strategy: BenchStrategy, sendTimes: SendTimeTable, interval: Duration, maximumBatch: Int) {
        self.strategy = strategy
        self.sendTimes = sendTimes
        self.interval = interval
        self.maximumBatch = maximumBatch
    }

    /// Feeds `rate` ticks per second for `duration` over `connection`.
    mutating func feed(rate: Double, for duration: Duration, over connection: inout HTTPConnection) async throws
        -> FeedReport
    {
        var report = FeedReport()
        let total = UInt64((rate * duration.seconds).rounded())
        guard total > 0 else { return report }
        let firstID = nextID
        let start = MonotonicClock.nanoseconds()
        let intervalNanos = UInt64(interval.seconds * 1e9)
        var sent: UInt64 = 0
        var round: UInt64 = 0
        while sent < total {
            let now = MonotonicClock.nanoseconds()
            let due = min(total, UInt64(Double(now - start) / 1e9 * rate))
            if due > sent {
                let count = min(due - sent, UInt64(maximumBatch))
                let ids = nextID...(nextID + count - 1)
                let body = strategy.ticksBody(ids: ids)
                let sentAt = MonotonicClock.nanoseconds()
                sendTimes.record(ids, sentAt: sentAt)
                try await connection.expectSuccess(.POST, "/api/ticks", json: body)
                let answeredAt = MonotonicClock.nanoseconds()
                _ = report.postMicros.record((answeredAt - sentAt) / 1_000)
                report.posts += 1
                nextID += count
                sent += count
                if due > sent { continue }  // behind schedule: post the rest at once
            }
            // Sleep to the next interval boundary of the schedule.
            round = max(round + 1, (MonotonicClock.nanoseconds() - start) / intervalNanos + 1)
            let wake = start + round * intervalNanos
            let current = MonotonicClock.nanoseconds()
            if wake > current { try await Task.sleep(for: .nanoseconds(Int64(wake - current))) }
        }
        report.ids = firstID...(nextID - 1)
        report.seconds = MonotonicClock.seconds(from: start, to: MonotonicClock.nanoseconds())
        return report
    }
}
