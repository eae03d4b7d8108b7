/// Many benchmark clients, connected a bounded number at a time and stopped together.
struct ClientFleet {
    let client: BenchClient
    let count: Int
    /// Clients connecting at once; more would overflow the broker's accept backlog and make
    /// connects wait for SYN retries.
    let connectConcurrency: Int

    /// How the connect ramp went.
    struct RampReport: Sendable {
        let seconds: Double
        let subscribed: Int
    }

    /// The connected fleet as a benchmark sees it.
    struct Connected: Sendable {
        let probes: [ClientProbe]
        /// One per event loop; together they hold every client's latencies.
        let recorders: [LatencyRecorder]
        let ramp: RampReport
    }

    /// Connects every client, waits until each is subscribed, refused or gone, runs `body` with
    /// the probes, then closes all connections.
    func run<Result: Sendable>(
        _ body: (Connected) async throws -> Result
    ) async throws -> Result {
        let probes = (0..<count).map { ClientProbe(index: $0, strategySize: client.strategy.size) }
        let executors = client.eventLoopGroup.makeIterator().map(EventLoopTaskExecutor.init)
        let recorders = executors.map { _ in LatencyRecorder() }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let (settledStream, continuation) = AsyncStream.makeStream(of: Void.self)
            var settledEvents = settledStream.makeAsyncIterator()
            let start = MonotonicClock.nanoseconds()
            var inFlight = 0
            for probe in probes {
                if inFlight >= connectConcurrency {
                    _ = await settledEvents.next()
                    inFlight -= 1
                }
                let settled = SettleSignal(continuation)
                let loop = probe.index % executors.count
                let executor = executors[loop]
                let recorder = recorders[loop]
                group.addTask(executorPreference: executor) {
                    await client.run(probe: probe, recorder: recorder, settled: settled, on: executor.eventLoop)
                }
                inFlight += 1
            }
            while inFlight > 0 {
                _ = await settledEvents.next()
                inFlight -= 1
            }
            let ramp = RampReport(
                seconds: MonotonicClock.seconds(from: start, to: MonotonicClock.nanoseconds()),
                subscribed: probes.count { $0.status == .subscribed })

            let result: Result
            do {
                result = try await body(Connected(probes: probes, recorders: recorders, ramp: ramp))
            } catch {
                group.cancelAll()
                throw error
            }
            group.cancelAll()
            try await group.waitForAll()
            continuation.finish()
            return result
        }
    }
}
