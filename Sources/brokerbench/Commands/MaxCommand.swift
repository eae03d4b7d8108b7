import ArgumentParser

/// `brokerbench max`: ramps the tick rate to find the highest delivered entries per second.
struct MaxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "max",
        abstract: "Highest delivered price entries per second: ramps the tick rate until deliveries stop growing.",
        discussion: """
            Each step feeds one rate for --warmup + --duration seconds and waits for the clients to catch
            up. The ramp multiplies the rate by --factor until deliveries grow less than 5 % twice in a
            row, the feed falls below 90 % of its target (the broker accepts no faster), clients are
            disconnected, or --max-rate is passed. The best step is reported with its latency.
            """)

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var load: LoadOptions

    @Option(help: "WebSocket clients, each subscribed to the benchmark strategy.")
    var clients = 1_000

    @Option(help: "Ticks per second of the first step.")
    var rate = 1_000.0

    @Option(help: "Rate multiplier from one step to the next.")
    var factor = 2.0

    @Option(help: "Highest rate tried.")
    var maxRate = 1_000_000.0

    @Option(help: "Measured seconds per step.")
    var duration = 5.0

    @Option(help: "Seconds of feeding before each step's measurement.")
    var warmup = 1.0

    func validate() throws {
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard rate > 0, factor > 1, maxRate >= rate, duration > 0, warmup >= 0 else {
            throw ValidationError("need --rate > 0, --factor > 1, --max-rate ≥ --rate, --duration > 0, --warmup ≥ 0")
        }
    }

    func run() async throws {
        let report = try await broker.withBroker { session in
            let bench = LoadBench(session: session, load: load, clients: clients, expectedTicks: 1 << 20)
            return try await bench.run { running in
                var steps: [PhaseResult] = []
                var best: PhaseResult?
                var flatSteps = 0
                var stepRate = rate
                var stopReason = "reached --max-rate"
                while stepRate <= maxRate {
                    progress("step: \(Format.rate(stepRate)) for \(Format.decimal(duration)) s…")
                    let step = try await running.measure(
                        rate: stepRate, warmup: .seconds(warmup), duration: .seconds(duration))
                    steps.append(step)
                    progress(
                        "  fed \(Format.rate(step.feed.ticksPerSecond)), delivered \(Format.rate(step.deliveriesPerSecond)),"
                            + " p99 \(Format.micros(step.percentile(99))), lost \(step.lost), disconnects \(step.disconnects)")
                    if step.disconnects > 0 {
                        stopReason = "clients were disconnected at \(Format.rate(stepRate))"
                        if best == nil { best = step }
                        break
                    }
                    if let current = best, step.deliveriesPerSecond < current.deliveriesPerSecond * 1.05 {
                        flatSteps += 1
                    } else {
                        flatSteps = 0
                    }
                    if best == nil || step.deliveriesPerSecond > best!.deliveriesPerSecond { best = step }
                    if flatSteps >= 2 {
                        stopReason = "deliveries grew less than 5 % for two steps"
                        break
                    }
                    if step.feed.ticksPerSecond < stepRate * 0.9 {
                        stopReason = "the broker accepted ticks no faster than \(Format.rate(step.feed.ticksPerSecond))"
                        break
                    }
                    stepRate *= factor
                }
                guard let best else { throw ValidationError("no step ran") }
                var report = BenchReport(
                    title: "brokerbench max: \(clients) clients × \(load.strategySize) codes, best of \(steps.count) steps"
                        + " (best at \(Format.rate(best.targetRate)) target)")
                best.describe(into: &report)
                for step in steps {
                    report.row(
                        "step \(Format.rate(step.targetRate))",
                        "fed \(Format.rate(step.feed.ticksPerSecond)), delivered \(Format.rate(step.deliveriesPerSecond)),"
                            + " p50 \(Format.micros(step.percentile(50))), p99 \(Format.micros(step.percentile(99))),"
                            + " coalesced \(Format.count(step.coalesced)), lost \(Format.count(step.lost)),"
                            + " broker \(step.cpu.brokerCores.map { Format.decimal($0, places: 2) } ?? "n/a") cores,"
                            + " tool \(Format.decimal(step.cpu.toolCores, places: 2)) cores")
                }
                report.row("stopped because", stopReason)
                report.field("bench", .string("max"))
                report.field("strategy_size", .int(load.strategySize))
                report.field("max_deliveries_per_s", .double(best.deliveriesPerSecond))
                report.json += best.jsonMembers
                report.field(
                    "steps",
                    .array(
                        steps.map { step in
                            .object([
                                ("rate_target", .double(step.targetRate)),
                                ("rate_achieved", .double(step.feed.ticksPerSecond)),
                                ("deliveries_per_s", .double(step.deliveriesPerSecond)),
                                ("p99_us", .int(Int(step.percentile(99)))),
                                ("lost", .int(Int(step.lost))),
                                ("coalesced", .int(Int(step.coalesced))),
                            ])
                        }))
                report.field("stopped_because", .string(stopReason))
                return report
            }
        }
        print(report.rendered)
    }
}
