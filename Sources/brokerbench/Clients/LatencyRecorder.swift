import Histogram
import Synchronization

/// Tick-to-client latencies of the clients on one event loop, in microseconds.
///
/// One recorder per event loop rather than one histogram per client: a histogram covering
/// 1 µs…60 s at three significant digits is ~140 KB, and an auto-resizing one that starts small
/// grows element by element through unspecialised generic code — at 1,000 clients that cost
/// seconds of CPU just as latencies rose, and the tool measured its own backlog. Clients on
/// the same loop run on the same thread, so the lock is practically uncontended.
final class LatencyRecorder: Sendable {
    /// Entries received and the worst latency in one second of a measured stretch.
    struct Second: Sendable {
        var entries: UInt64 = 0
        var maxMicros: UInt64 = 0
    }

    private struct State {
        var histogram = LatencyRecorder.emptyHistogram()
        var timeline: [Second] = []
        var since: UInt64 = 0
    }

    private let state = Mutex(State())

    /// A histogram sized for 1 µs…60 s up front, so recording never resizes it.
    static func emptyHistogram() -> Histogram<UInt64> {
        var histogram = Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        histogram.autoResize = true
        return histogram
    }

    /// Clears the recorder for a stretch starting at `nanoseconds` (monotonic clock).
    func reset(at nanoseconds: UInt64) {
        state.withLock { state in
            state.histogram.reset()
            state.timeline = []
            state.since = nanoseconds
        }
    }

    /// Records the latencies of the measured entries of one message received at `receivedAt`.
    func record(_ micros: [UInt64], receivedAt: UInt64) {
        guard !micros.isEmpty else { return }
        state.withLock { state in
            var worst: UInt64 = 0
            for value in micros {
                _ = state.histogram.record(value)
                worst = max(worst, value)
            }
            let second = Int((receivedAt &- state.since) / 1_000_000_000)
            guard second >= 0 && second < 3_600 else { return }
            while state.timeline.count <= second { state.timeline.append(Second()) }
            state.timeline[second].entries += UInt64(micros.count)
            state.timeline[second].maxMicros = max(state.timeline[second].maxMicros, worst)
        }
    }

    /// The latencies and timeline recorded since the last reset.
    func collect() -> (histogram: Histogram<UInt64>, timeline: [Second]) {
        state.withLock { ($0.histogram, $0.timeline) }
    }

    /// All recorders' latencies and timelines added up.
    static func merge(_ recorders: [LatencyRecorder]) -> (histogram: Histogram<UInt64>, timeline: [Second]) {
        var histogram = emptyHistogram()
        var timeline: [Second] = []
        for recorder in recorders {
            let (part, seconds) = recorder.collect()
            histogram.add(part)
            while timeline.count < seconds.count { timeline.append(Second()) }
            for (index, second) in seconds.enumerated() {
                timeline[index].entries += second.entries
                timeline[index].maxMicros = max(timeline[index].maxMicros, second.maxMicros)
            }
        }
        return (histogram, timeline)
    }
}
