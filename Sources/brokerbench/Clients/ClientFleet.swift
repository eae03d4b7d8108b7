import Dispatch
import Foundation

/// Many benchmark clients on a few `ClientLoop` threads, connected a bounded number at a time and
/// stopped together.
struct ClientFleet {
    let client: BenchClient
    let count: Int
    /// Client threads; each owns every `threads`-th client.
    let threads: Int
    /// Kernel policy of those threads.
    let scheduling: ClientScheduling
    /// Clients connecting at once, over all threads; more would overflow the broker's accept
    /// backlog and make connects wait for SYN retries.
    let connectConcurrency: Int

    /// How the connect ramp went.
    struct RampReport: Sendable {
        let seconds: Double
        let subscribed: Int
    }

    /// The connected fleet as a benchmark sees it.
    struct Connected: Sendable {
        let probes: [ClientProbe]
        /// One per thread; together they hold every client's latencies.
        let recorders: [LatencyRecorder]
        let ramp: RampReport
    }

    /// Connects every client, waits until each is subscribed, refused or gone, runs `body` with
    /// the probes, then closes all connections.
    func run<Result: Sendable>(_ body: (Connected) async throws -> Result) async throws -> Result {
        let address = try client.target.resolve()
        let probes = (0..<count).map { ClientProbe(index: $0, strategySize: client.strategy.size) }
        let (settledStream, continuation) = AsyncStream.makeStream(of: Void.self)
        defer { continuation.finish() }
        let threadCount = max(1, min(threads, count))
        let recorders = (0..<threadCount).map { _ in LatencyRecorder() }
        let stop = StopFlag()
        let finished = DispatchGroup()
        let start = MonotonicClock.nanoseconds()
        for thread in 0..<threadCount {
            let members = stride(from: thread, to: count, by: threadCount).map {
                ClientLoop.Member(probe: probes[$0], settled: SettleSignal(continuation))
            }
            let loop = ClientLoop(
                client: client, address: address, members: members, recorder: recorders[thread],
                connectLimit: max(1, connectConcurrency / threadCount), stop: stop)
            finished.enter()
            Thread.detachNewThread { [scheduling] in
                scheduling.applyOrWarn()
                loop.run()
                finished.leave()
            }
        }
        defer { stop.set() }

        var settledEvents = settledStream.makeAsyncIterator()
        for _ in 0..<count { _ = await settledEvents.next() }
        let ramp = RampReport(
            seconds: MonotonicClock.seconds(from: start, to: MonotonicClock.nanoseconds()),
            subscribed: probes.count { $0.status == .subscribed })

        let result: Result
        do {
            result = try await body(Connected(probes: probes, recorders: recorders, ramp: ramp))
        } catch {
            stop.set()
            await Self.wait(for: finished)
            throw error
        }
        stop.set()
        await Self.wait(for: finished)
        return result
    }

    private static func wait(for group: DispatchGroup) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { done.resume() }
        }
    }
}
