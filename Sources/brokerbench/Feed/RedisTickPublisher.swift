import Foundation
import Publishers
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Publishes ticks to Redis at a set rate from a thread of its own: each message a JSON array of
/// ticks (`PUBLISH` to a channel, or `XADD` to a stream), every message that fell due since the
/// last wake-up pipelined in one write (`redisAppendCommandArgv` × N, then `redisGetReply` × N).
///
/// Pacing follows the schedule, as the HTTP feeder's does: when Redis is slow the next wake-up
/// sends everything due meanwhile, so the achieved rate shows whether the publisher kept up.
final class RedisTickPublisher: Sendable {
    /// Where the ticks go.
    enum Destination: Sendable, CustomStringConvertible {
        case channel(String)
        /// `XADD stream MAXLEN ~ maxLength * tick JSON`: the bound keeps a long run from filling
        /// Redis' memory; the broker reads far behind the head only when it cannot keep up.
        case stream(String, maxLength: Int)

        var description: String {
            switch self {
            case .channel(let name): "PUBLISH \(name)"
            case .stream(let name, let maxLength): "XADD \(name) MAXLEN ~ \(maxLength)"
            }
        }
    }

    /// The connection and the tick generator, used by one publishing thread at a time.
    private struct State {
        let connection: RedisConnection
        var mix: TickMix
    }

    /// Held by the publishing thread for a whole stretch; nothing else takes it meanwhile.
    private let state: Mutex<State>
    private let published = Atomic<UInt64>(0)
    let destination: Destination
    let batchSize: Int
    let interval: Duration
    let sendTimes: SendTimeTable
    /// Most messages pipelined in one write when far behind schedule.
    private let maximumPipeline = 1_000

    init(
        endpoint: RedisEndpoint, destination: Destination, mix: TickMix, batchSize: Int, interval: Duration,
        sendTimes: SendTimeTable
    ) throws(RedisBenchError) {
        let connection = try endpoint.connect()
        state = Mutex(State(connection: connection, mix: mix))
        self.destination = destination
        self.batchSize = batchSize
        self.interval = interval
        self.sendTimes = sendTimes
    }

    /// Ticks published since the publisher was created; readable while a stretch runs.
    var publishedTicks: UInt64 { published.load(ordering: .relaxed) }

    /// The id the next strategy tick will carry (call between stretches only: a running stretch
    /// holds the state).
    var nextStrategyID: UInt64 { state.withLock { $0.mix.nextStrategyID } }

    /// Publishes `rate` ticks per second for `duration` on a new thread; returns when done.
    func publish(rate: Double, for duration: Duration) async throws -> RedisFeedReport {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { [self] in
                continuation.resume(with: Result { () throws(RedisBenchError) in try run(rate: rate, seconds: duration.seconds) })
            }
            thread.name = "brokerbench-redis-publisher"
            thread.start()
        }
    }

    private func run(rate: Double, seconds: Double) throws(RedisBenchError) -> RedisFeedReport {
        try state.withLock { (state: inout State) throws(RedisBenchError) -> RedisFeedReport in
            var report = RedisFeedReport()
            let total = UInt64((rate * seconds).rounded())
            guard total > 0 else { return report }
            let firstStrategyID = state.mix.nextStrategyID
            let cpuStart = Self.threadCPUSeconds()
            let batch = UInt64(batchSize)
            let intervalNanos = max(UInt64(interval.seconds * 1e9), 1)
            var json: [UInt8] = []
            json.reserveCapacity(batchSize * 96 + 16)
            var payloads: [[UInt8]] = []
            let start = MonotonicClock.nanoseconds()
            var sent: UInt64 = 0
            var round: UInt64 = 0
            while sent < total {
                let due = min(total, UInt64(Double(MonotonicClock.nanoseconds() - start) / 1e9 * rate))
                let waiting = due - sent
                // Whole messages only, but for the last one of the stretch.
                let count = min(due == total ? waiting : waiting - waiting % batch, batch * UInt64(maximumPipeline))
                if count > 0 {
                    report.mostBehind = max(report.mostBehind, waiting)
                    payloads.removeAll(keepingCapacity: true)
                    let strategyBefore = state.mix.nextStrategyID
                    var left = count
                    while left > 0 {
                        let ticks = min(left, batch)
                        json.removeAll(keepingCapacity: true)
                        state.mix.appendTicks(Int(ticks), to: &json)
                        payloads.append(json)
                        left -= ticks
                    }
                    let strategyAfter = state.mix.nextStrategyID
                    let sentAt = MonotonicClock.nanoseconds()
                    if strategyAfter > strategyBefore {
                        sendTimes.record(strategyBefore...(strategyAfter - 1), sentAt: sentAt)
                    }
                    let replies: [RedisReply]
                    do throws(RedisError) {
                        replies = try state.connection.pipeline(payloads.map(arguments))
                    } catch {
                        throw .redis(error)
                    }
                    for reply in replies { try check(reply, into: &report) }
                    _ = report.feed.postMicros.record((MonotonicClock.nanoseconds() - sentAt) / 1_000)
                    report.messages += payloads.count
                    sent += count
                    published.add(count, ordering: .relaxed)
                    if due > sent { continue }  // behind schedule: send the rest at once
                }
                round = max(round + 1, (MonotonicClock.nanoseconds() - start) / intervalNanos + 1)
                Self.sleep(until: start + round * intervalNanos)
            }
            report.ticks = sent
            report.feed.seconds = MonotonicClock.seconds(from: start, to: MonotonicClock.nanoseconds())
            report.feed.posts = report.messages
            let nextStrategyID = state.mix.nextStrategyID
            report.feed.ids = nextStrategyID > firstStrategyID ? firstStrategyID...(nextStrategyID - 1) : nil
            report.threadCPUSeconds = Self.threadCPUSeconds() - cpuStart
            return report
        }
    }

    private func arguments(_ payload: [UInt8]) -> [[UInt8]] {
        switch destination {
        case .channel(let name):
            [Array("PUBLISH".utf8), Array(name.utf8), payload]
        case .stream(let name, let maxLength):
            [Array("XADD".utf8), Array(name.utf8), Array("MAXLEN".utf8), [UInt8(ascii: "~")], Array(String(maxLength).utf8),
             [UInt8(ascii: "*")], Array("tick".utf8), payload]
        }
    }

    private func check(_ reply: RedisReply, into report: inout RedisFeedReport) throws(RedisBenchError) {
        switch (destination, reply) {
        case (.channel, .integer(let receivers)):
            if receivers == 0 { report.unheard += 1 }
        case (.stream, .bulk):
            break
        default:
            throw .commandFailed(command: destination.description, reply: reply.description)
        }
    }

    private static func sleep(until nanoseconds: UInt64) {
        var wake = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &wake, nil) == EINTR {}
    }

    private static func threadCPUSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
