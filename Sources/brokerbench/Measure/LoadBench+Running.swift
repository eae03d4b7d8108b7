extension LoadBench {
    /// The connected benchmark handed to a subcommand: it measures phases with it.
    struct Running {
        let bench: LoadBench
        let fleet: ClientFleet.Connected
        var feeder: TickFeeder

        var probes: [ClientProbe] { fleet.probes }
        var ramp: ClientFleet.RampReport { fleet.ramp }

        /// Feeds `rate` ticks/s for `warmup` (not counted), then for `duration` (counted), then
        /// waits for the clients to receive the last ticks.
        mutating func measure(rate: Double, warmup: Duration, duration: Duration) async throws -> PhaseResult {
            let live = probes.filter { $0.status == .subscribed }
            var feeder = self.feeder
            // A connection per phase: nothing depends on the broker keeping an idle one open
            // while the previous phase drains.
            let (feed, start, before) = try await bench.session.withHTTP { http in
                if warmup > .zero { _ = try await feeder.feed(rate: rate, for: warmup, over: &http) }
                let start = beginMeasuring(live, from: feeder.nextID)
                let before = CPUReading(session: bench.session)
                let feed = try await feeder.feed(rate: rate, for: duration, over: &http)
                return (feed, start, before)
            }
            self.feeder = feeder

            let feedEnd = MonotonicClock.nanoseconds()
            let drained = try await drain(live, of: feed, until: feedEnd + UInt64(bench.load.drainTimeout * 1e9))
            let cpu = CPUReading(session: bench.session).usage(since: before, from: start)
            return collect(live, rate: rate, feed: feed, start: start, feedEnd: feedEnd, drained: drained, cpu: cpu)
        }

        /// Starts a measured stretch at tick `firstID`: clears the recorders, then each live
        /// client's tally. Returns the stretch's start on the monotonic clock.
        func beginMeasuring(_ live: [ClientProbe], from firstID: UInt64) -> UInt64 {
            let start = MonotonicClock.nanoseconds()
            // Recorders first: a client counts an entry as measured only after its probe says so.
            for recorder in fleet.recorders { recorder.reset(at: start) }
            for probe in live { probe.beginMeasuring(from: firstID) }
            return start
        }

        /// Waits until every live client has received the last tick of each code in `feed`, or
        /// `deadline` (monotonic nanoseconds) passes. Returns whether they all did.
        func drain(_ live: [ClientProbe], of feed: FeedReport, until deadline: UInt64) async throws -> Bool {
            let finalIDs = feed.ids.map { bench.strategy.finalTickIDs(in: $0) } ?? []
            while true {
                let drained = live.allSatisfy { $0.status != .subscribed || $0.hasReceived(finalIDs: finalIDs) }
                if drained || MonotonicClock.nanoseconds() >= deadline { return drained }
                try await Task.sleep(for: .milliseconds(10))
            }
        }

        /// Ends the stretch that began at `start`: adds up the clients' tallies and latencies.
        func collect(
            _ live: [ClientProbe], rate: Double, feed: FeedReport, start: UInt64, feedEnd: UInt64, drained: Bool,
            cpu: CPUUsage
        ) -> PhaseResult {
            let end = MonotonicClock.nanoseconds()
            var total = DeliveryTally(strategySize: bench.strategy.size)
            var ended: [String: Int] = [:]
            var errorMessages = 0
            var firstError: String?
            for probe in live {
                total.add(probe.endMeasuring())
                if case .ended(let reason) = probe.status { ended[reason, default: 0] += 1 }
                let errors = probe.errors
                errorMessages += errors.count
                if firstError == nil { firstError = errors.first }
            }
            let (latency, timeline) = LatencyRecorder.merge(fleet.recorders)
            if bench.load.timeline {
                for (second, sample) in timeline.enumerated() {
                    progress(
                        "  second \(second): \(Format.count(sample.entries)) entries received,"
                            + " worst latency \(Format.micros(sample.maxMicros))")
                }
            }
            return PhaseResult(
                targetRate: rate, feed: feed, clients: live.count, tally: total, latency: latency, drained: drained,
                drainSeconds: MonotonicClock.seconds(from: feedEnd, to: end), endedClients: ended,
                brokerErrorMessages: errorMessages, firstBrokerError: firstError,
                brokerKilobytes: bench.session.residentKilobytes, cpu: cpu)
        }
    }
}

/// CPU seconds used so far by brokerbench, the broker, a helper process (e.g. redis-server) and
/// the whole machine.
struct CPUReading: Sendable {
    let tool: (user: Double, system: Double)
    let broker: Double?
    let helper: Double?
    let machineBusy: Double?

    init(session: BrokerSession, helperPid: Int32? = nil) {
        tool = ProcessStats.ownCPUSeconds()
        broker = session.cpuSeconds
        helper = helperPid.flatMap(ProcessStats.cpuSeconds(pid:))
        machineBusy = ProcessStats.machineCPUSeconds()?.busy
    }

    /// Cores used between `earlier` and this reading, `wall` seconds apart.
    func usage(since earlier: CPUReading, wall: Double) -> CPUUsage {
        CPUUsage(
            toolUserSeconds: tool.user - earlier.tool.user,
            toolSystemSeconds: tool.system - earlier.tool.system,
            brokerCores: broker.flatMap { now in earlier.broker.map { (now - $0) / wall } },
            machineCores: machineBusy.flatMap { now in earlier.machineBusy.map { (now - $0) / wall } },
            wallSeconds: wall,
            helperCores: helper.flatMap { now in earlier.helper.map { (now - $0) / wall } })
    }

    /// Cores used between `earlier` and this reading, over the wall time since `start` (monotonic nanoseconds).
    func usage(since earlier: CPUReading, from start: UInt64) -> CPUUsage {
        usage(since: earlier, wall: MonotonicClock.seconds(from: start, to: MonotonicClock.nanoseconds()))
    }
}

/// Cores used during a measured stretch.
struct CPUUsage: Sendable {
    let toolUserSeconds: Double
    let toolSystemSeconds: Double
    let brokerCores: Double?
    /// Busy cores of the whole machine: broker, brokerbench, and anything else running.
    let machineCores: Double?
    let wallSeconds: Double
    /// Cores of the helper process the benchmark runs beside the broker (redis-server), if any.
    var helperCores: Double? = nil

    var toolCores: Double { (toolUserSeconds + toolSystemSeconds) / wallSeconds }

    /// Cores used by processes other than the broker, brokerbench and its helper.
    var otherCores: Double? {
        guard let machineCores, let brokerCores else { return nil }
        return max(0, machineCores - brokerCores - toolCores - (helperCores ?? 0))
    }
}
