import ArgumentParser
import Publishers

/// `brokerbench redis`: ticks ingested from Redis end to end — Redis → journal → projection →
/// fan-out to N WebSocket clients.
struct RedisCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis",
        abstract: "Ticks ingested from Redis end to end: ingest rate, fan-out, tick-to-client latency.",
        discussion: """
            Starts a redis-server on a free loopback port (or uses --redis-url), starts the broker with \
            --redis-url (with --spawn), connects N clients to the benchmark strategy, and publishes ticks \
            from a thread of its own with hiredis pipelining: each PUBLISH (or XADD with --via stream) a \
            JSON array of --batch ticks. Most ticks are for a universe of codes nobody subscribes to, a \
            share (--strategy-share) for the strategy's codes, which every client receives. Latency is \
            from just before a tick's message is written to Redis to when a client handles it. \
            With --rates a,b,c each rate is a step (until one is not sustained), and the highest \
            sustained one is reported.
            """)

    enum Via: String, ExpressibleByArgument, CaseIterable, Sendable {
        case channel
        case stream
    }

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var load: LoadOptions

    @Option(help: "WebSocket clients, each subscribed to the benchmark strategy.")
    var clients = 1_000

    @Option(help: "Ticks per second published to Redis (all codes).")
    var rate = 50_000.0

    @Option(
        help: "Comma-separated rates to run one after another as steps (e.g. 20000,50000,80000); overrides --rate.",
        transform: { text in
            try text.split(separator: ",").map {
                guard let value = Double($0.filter { $0 != " " }), value > 0 else {
                    throw ValidationError("--rates takes positive numbers separated by commas")
                }
                return value
            }
        })
    var rates: [Double]?

    @Option(help: "Measured seconds (per step).")
    var duration = 20.0

    @Option(help: "Seconds of publishing before measuring (per step, not counted).")
    var warmup = 3.0

    @Option(help: "How the broker reads Redis: a pub/sub channel (PUBLISH) or a stream (XADD, read with XREAD).")
    var via = Via.channel

    @Option(help: "Ticks in one Redis message (a JSON array).")
    var batch = 100

    @Option(help: "Codes of the universe the non-strategy ticks go round (300000…).")
    var universe = 5_000

    @Option(
        help: """
            Share of ticks for the strategy's codes (0…1); the rest go to the universe. The default 0.01 \
            gives each strategy code about as many ticks as each universe code (50 of 5,050 codes).
            """)
    var strategyShare = 0.01

    @Option(help: "Pub/sub channel to publish to.")
    var channel = "ticks"

    @Option(help: "Stream to XADD to with --via stream.")
    var stream = "ticks"

    @Option(help: "Approximate length the stream is trimmed to (XADD MAXLEN ~).")
    var streamMaxLength = 100_000

    @Option(help: "Milliseconds between the publisher's wake-ups; each sends every whole message due.")
    var publishInterval = 1.0

    @Option(help: "A running Redis to use instead of starting redis-server (a spawned broker is pointed at it).")
    var redisURL: String?

    @Option(help: "Pid of the Redis at --redis-url, to report its CPU.")
    var redisPid: Int32?

    @Option(help: "The redis-server executable to start (looked up on PATH).")
    var redisServer = "redis-server"

    @Option(
        parsing: .unconditionalSingleValue,
        help: "Extra argument for the started redis-server, repeatable (e.g. --redis-arg=--client-output-buffer-limit --redis-arg='pubsub 0 0 0').")
    var redisArg: [String] = []

    var stepRates: [Double] { rates ?? [rate] }

    func validate() throws {
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard rate > 0, duration > 0, warmup >= 0 else {
            throw ValidationError("--rate and --duration must be positive, --warmup not negative")
        }
        guard rates?.isEmpty != true else { throw ValidationError("--rates needs at least one rate") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard (1...TickMix.maximumUniverse).contains(universe) else {
            throw ValidationError("--universe must be 1…\(TickMix.maximumUniverse)")
        }
        guard (0...1).contains(strategyShare) else { throw ValidationError("--strategy-share must be 0…1") }
        guard publishInterval > 0 else { throw ValidationError("--publish-interval must be positive") }
        guard streamMaxLength >= 1 else { throw ValidationError("--stream-max-length must be at least 1") }
        if redisURL == nil && broker.spawn == nil {
            throw ValidationError("a running broker (no --spawn) reads its own Redis: pass that Redis as --redis-url")
        }
    }

    func run() async throws {
        let server: RedisServerProcess?
        let endpoint: RedisEndpoint
        if let redisURL {
            endpoint = RedisEndpoint(text: redisURL, url: try RedisURL(parsing: redisURL))
            server = nil
        } else {
            let started = try await RedisServerProcess.launch(executable: redisServer, extraArguments: redisArg)
            progress("started redis-server (pid \(started.pid)) on port \(started.port)")
            endpoint = started.endpoint
            server = started
        }
        var report: BenchReport
        do {
            report = try await measure(endpoint: endpoint, redisPid: server?.pid ?? redisPid)
        } catch {
            if let server { _ = await server.stop() }
            throw error
        }
        if let server {
            let ending = await server.stop()
            report.row("redis-server shutdown", "SIGTERM → \(ending)")
        }
        print(report.rendered)
    }

    private var destination: RedisTickPublisher.Destination {
        switch via {
        case .channel: .channel(channel)
        case .stream: .stream(stream, maxLength: streamMaxLength)
        }
    }

    private func measure(endpoint: RedisEndpoint, redisPid: Int32?) async throws -> BenchReport {
        var spawnArguments = ["--redis-url", endpoint.text]
        switch via {
        case .channel: spawnArguments += ["--redis-channel", channel]
        case .stream: spawnArguments += ["--redis-stream", stream]
        }
        let stepRates = self.stepRates
        let expectedStrategyTicks = stepRates.reduce(0.0) { $0 + $1 * (duration + warmup) } * strategyShare * 1.1
        return try await broker.withBroker(spawnArguments: spawnArguments) { session in
            try await waitForRedisSource(session)
            let bench = LoadBench(
                session: session, load: load, clients: clients, expectedTicks: Int(expectedStrategyTicks))
            let mix = TickMix(strategy: bench.strategy, universe: universe, strategyShare: strategyShare)
            progress("mix: \(mix.summary); \(batch) ticks per message, \(destination)")
            let publisher = try RedisTickPublisher(
                endpoint: endpoint, destination: destination, mix: mix, batchSize: batch,
                interval: .microseconds(Int64(publishInterval * 1000)), sendTimes: bench.sendTimes)
            let journal = JournalProbe(session: session)
            return try await bench.run { running in
                // After the clients' connects and subscriptions, before the first tick.
                guard let journalBaseline = await journal.read(timeout: .seconds(10)) else {
                    throw RedisBenchError.journalUnreadable(source: journal.source)
                }
                let baseline = LoadBench.Running.IngestBaseline(
                    seq: journalBaseline.seq, ticks: await BrokerCounters.read(from: session, timeout: .seconds(10))?.counters.ticks)
                var steps: [RedisPhaseResult] = []
                for stepRate in stepRates {
                    progress(
                        "publishing \(Format.rate(stepRate)) for \(Format.decimal(warmup)) s warm-up + \(Format.decimal(duration)) s")
                    let step = try await running.measure(
                        publishingWith: publisher, rate: stepRate, warmup: .seconds(warmup), duration: .seconds(duration),
                        journal: journal, baseline: baseline, redisPid: redisPid)
                    progress(
                        "  published \(Format.rate(step.publish.ticksPerSecond)), journaled \(step.journalEventsPerSecond.map(Format.rate) ?? "n/a"),"
                            + " delivered \(Format.rate(step.phase.deliveriesPerSecond)), p99 \(Format.micros(step.phase.percentile(99))),"
                            + " lost \(step.phase.lost), sustained \(step.isSustained ? "yes" : "no")")
                    steps.append(step)
                    // A step the broker did not keep up with leaves a backlog the next would inherit.
                    if !step.isSustained && stepRate != stepRates.last {
                        progress("  not sustained: skipping the higher rates")
                        break
                    }
                }
                return report(steps, mix: mix, endpoint: endpoint)
            }
        }
    }

    /// Waits until the broker says its Redis source is connected, so no published tick goes unheard.
    private func waitForRedisSource(_ session: BrokerSession) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        var state = "?"
        while ContinuousClock.now < deadline {
            state = try await session.withHTTP { try await BrokerCounters.read(over: &$0) }.redis?.state ?? "off"
            if state == "connected" { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RedisBenchError.brokerNotConnected(state: state)
    }

    private func report(_ steps: [RedisPhaseResult], mix: TickMix, endpoint: RedisEndpoint) -> BenchReport {
        let shown = steps.count == 1 ? steps[0] : (steps.last { $0.isSustained } ?? steps[steps.count - 1])
        let via = self.via == .channel ? "pub/sub channel '\(channel)'" : "stream '\(stream)'"
        var report = BenchReport(
            title: "brokerbench redis: \(Format.rate(shown.targetRate)) via \(via), \(clients) clients × \(load.strategySize) codes,"
                + " \(Format.decimal(duration)) s (+\(Format.decimal(warmup)) s warm-up)")
        report.row("mix", "\(mix.summary); \(batch) ticks per message")
        report.row("redis", "\(endpoint.url)")
        shown.describe(into: &report)
        report.row(
            "sustained",
            shown.isSustained
                ? "yes"
                : "no (needs published and journaled ≥ 95 % of target, backlog ≤ 1 s of ticks, all clients drained, nothing lost)")
        if steps.count > 1 {
            for step in steps {
                report.row(
                    "step \(Format.rate(step.targetRate))",
                    "published \(Format.rate(step.publish.ticksPerSecond)), journaled \(step.journalEventsPerSecond.map(Format.rate) ?? "n/a"),"
                        + " backlog max \(step.worstBacklog.map { Format.count($0) } ?? "n/a"),"
                        + " delivered \(Format.rate(step.phase.deliveriesPerSecond)),"
                        + " p50 \(Format.micros(step.phase.percentile(50))), p99 \(Format.micros(step.phase.percentile(99))),"
                        + " lost \(Format.count(step.phase.lost)), broker \(step.phase.cpu.brokerCores.map { Format.decimal($0, places: 2) } ?? "n/a") cores,"
                        + " sustained \(step.isSustained ? "yes" : "no")")
            }
            let best = steps.filter(\.isSustained).max { $0.targetRate < $1.targetRate }
            report.row("highest sustained", best.map { Format.rate($0.targetRate) } ?? "none of the steps")
        }
        report.field("bench", .string("redis"))
        report.field("via", .string(self.via.rawValue))
        report.field("strategy_size", .int(load.strategySize))
        report.field("universe", .int(universe))
        report.field("strategy_share", .double(strategyShare))
        report.field("batch", .int(batch))
        report.json += shown.jsonMembers
        if steps.count > 1 {
            report.field(
                "steps",
                .array(
                    steps.map { step in
                        .object([
                            ("rate_target", .double(step.targetRate)),
                            ("rate_published", .double(step.publish.ticksPerSecond)),
                            ("journal_events_per_s", .optional(step.journalEventsPerSecond)),
                            ("backlog_max", step.worstBacklog.map { .int(Int($0)) } ?? .null),
                            ("deliveries_per_s", .double(step.phase.deliveriesPerSecond)),
                            ("p99_us", .int(Int(step.phase.percentile(99)))),
                            ("lost", .int(Int(step.phase.lost))),
                            ("sustained", .bool(step.isSustained)),
                        ])
                    }))
            let best = steps.filter(\.isSustained).max { $0.targetRate < $1.targetRate }
            report.field("highest_sustained_rate", best.map { JSONValue.double($0.targetRate) } ?? .null)
        }
        return report
    }
}
