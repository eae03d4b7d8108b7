extension LoadBench.Running {
    /// Where a Redis run started from: the broker's journal seq and tick counter after the
    /// clients connected and before the publisher sent anything.
    struct IngestBaseline: Sendable {
        let seq: UInt64
        let ticks: UInt64?
    }

    /// Publishes `rate` ticks/s to Redis for `warmup` (not counted), then for `duration`
    /// (counted) while sampling how far the broker's journal has got, then waits for the
    /// clients to receive the last strategy ticks.
    ///
    /// Ingest is measured on the journal (`journal`), which can be read however busy the broker
    /// is; the broker's stats (ticks, messages queued, Redis source counters) are read too, but
    /// an overloaded broker may answer them late or not at all, so each of those is optional.
    func measure(
        publishingWith publisher: RedisTickPublisher, rate: Double, warmup: Duration, duration: Duration,
        journal: JournalProbe, baseline: IngestBaseline, redisPid: Int32?
    ) async throws -> RedisPhaseResult {
        let session = bench.session
        let live = probes.filter { $0.status == .subscribed }
        if warmup > .zero { _ = try await publisher.publish(rate: rate, for: warmup) }

        let statsAtStart = await BrokerCounters.read(from: session, timeout: .seconds(1))
        let journalAtStart = await journal.read()
        let start = beginMeasuring(live, from: publisher.nextStrategyID)
        let before = CPUReading(session: session, helperPid: redisPid)
        let publishedAtStart = publisher.publishedTicks
        let expectedAtEnd = publishedAtStart + UInt64((rate * duration.seconds).rounded())

        async let publishing = publisher.publish(rate: rate, for: duration)
        // Sample how far the journal trails the publisher while the stretch runs.
        var samples: [IngestSample] = []
        let sampleEnd = start + UInt64((duration.seconds + 1) * 1e9)
        while publisher.publishedTicks < expectedAtEnd && MonotonicClock.nanoseconds() < sampleEnd {
            try await Task.sleep(for: .milliseconds(500))
            let published = publisher.publishedTicks
            guard let reading = await journal.read() else { continue }
            let journaled = reading.seq &- baseline.seq
            samples.append(
                IngestSample(
                    seconds: MonotonicClock.seconds(from: start, to: reading.at), published: published - publishedAtStart,
                    journaled: reading.seq &- (journalAtStart?.seq ?? baseline.seq),
                    behind: published > journaled ? published - journaled : 0))
        }
        let publish = try await publishing
        let feedEnd = MonotonicClock.nanoseconds()
        let journalAtFeedEnd = await journal.read()
        let statsAtFeedEnd = await BrokerCounters.read(from: session, timeout: .seconds(1))

        let drained = try await drain(live, of: publish.feed, until: feedEnd + UInt64(bench.load.drainTimeout * 1e9))
        let cpu = CPUReading(session: session, helperPid: redisPid).usage(since: before, from: start)
        let phase = collect(live, rate: rate, feed: publish.feed, start: start, feedEnd: feedEnd, drained: drained, cpu: cpu)
        // Once the clients have the last ticks the broker is idle again and answers at once.
        let statsAtEnd = await BrokerCounters.read(from: session, timeout: .seconds(drained ? 5 : 1))
        if bench.load.timeline {
            for sample in samples {
                progress(
                    "  at \(Format.decimal(sample.seconds)) s: published \(Format.count(sample.published)),"
                        + " journaled \(Format.count(sample.journaled)), behind by \(Format.count(sample.behind))")
            }
        }
        let published = publisher.publishedTicks
        return RedisPhaseResult(
            phase: phase, publish: publish,
            journalWindow: journalAtStart.flatMap { first in
                journalAtFeedEnd.flatMap { last in last.at > first.at ? (first, last) : nil }
            },
            statsWindow: statsAtStart.flatMap { first in
                statsAtFeedEnd.flatMap { last in last.at > first.at ? (first, last) : nil }
            },
            statsAtEnd: statsAtEnd, journalSource: journal.source,
            behindAtFeedEnd: journalAtFeedEnd.map { published > $0.seq &- baseline.seq ? published - ($0.seq &- baseline.seq) : 0 },
            mostBehind: samples.map(\.behind).max(),
            notIngested: statsAtEnd.flatMap { end in
                baseline.ticks.map { baseline in baseline + published > end.counters.ticks ? baseline + published - end.counters.ticks : 0 }
            },
            redisReconnects: statsAtEnd.flatMap { end in
                (statsAtStart?.counters.redis?.reconnects).flatMap { start in end.counters.redis.map { $0.reconnects &- start } }
            })
    }
}

/// The journal against the publisher's progress, at one moment of a measured stretch.
struct IngestSample: Sendable {
    /// Seconds since the stretch began.
    let seconds: Double
    /// Ticks published since the stretch began.
    let published: UInt64
    /// Events journaled since the stretch began.
    let journaled: UInt64
    /// Ticks published (warm-up included) that the journal did not hold yet.
    let behind: UInt64
}
