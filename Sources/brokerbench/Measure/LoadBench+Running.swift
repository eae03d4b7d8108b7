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
                let firstID = feeder.nextID
                let start = MonotonicClock.nanoseconds()
                // Recorders first: a client counts an entry as measured only after its probe says so.
                for recorder in fleet.recorders { recorder.reset(at: start) }
                for probe in live { probe.beginMeasuring(from: firstID) }
                let before = CPUReading(session: bench.session)
                let feed = try await feeder.feed(rate: rate, for: duration, over: &http)
                return (feed, start, before)
            }
            self.feeder = feeder

            let feedEnd = MonotonicClock.nanoseconds()
            let finalIDs = feed.ids.map { bench.strategy.finalTickIDs(in: $0) } ?? []
            let drainDeadline = feedEnd + UInt64(bench.load.drainTimeout * 1e9)
            var drained = false
            while true {
                drained = live.allSatisfy { $0.status != .subscribed || $0.hasReceived(finalIDs: finalIDs) }
                if drained || MonotonicClock.nanoseconds() >= drainDeadline { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            let end = MonotonicClock.nanoseconds()
            let after = CPUReading(session: bench.session)
            let wall = MonotonicClock.seconds(from: start, to: end)

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
                brokerKilobytes: bench.session.residentKilobytes, cpu: after.usage(since: before, wall: wall))
        }
    }
}

/// CPU seconds used so far by brokerbench, the broker and the whole machine.
struct CPUReading: Sendable {
    let tool: (user: Double, system: Double)
    let broker: Double?
    let machineBusy: Double?

    init(session: BrokerSession) {
        tool = ProcessStats.ownCPUSeconds()
        broker = session.cpuSeconds
        machineBusy = ProcessStats.machineCPUSeconds()?.busy
    }

    /// Cores used between `earlier` and this reading, `wall` seconds apart.
    func usage(since earlier: CPUReading, wall: Double) -> CPUUsage {
        CPUUsage(
            toolUserSeconds: tool.user - earlier.tool.user,
            toolSystemSeconds: tool.system - earlier.tool.system,
            brokerCores: broker.flatMap { now in earlier.broker.map { (now - $0) / wall } },
            machineCores: machineBusy.flatMap { now in earlier.machineBusy.map { (now - $0) / wall } },
            wallSeconds: wall)
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

    var toolCores: Double { (toolUserSeconds + toolSystemSeconds) / wallSeconds }

    /// Cores used by processes other than the broker and brokerbench.
    var otherCores: Double? {
        guard let machineCores, let brokerCores else { return nil }
        return max(0, machineCores - brokerCores - toolCores)
    }
}
