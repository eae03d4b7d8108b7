import ArgumentParser

/// `brokerbench latency`: N clients on one strategy, ticks at a set rate, latency and drops.
struct LatencyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Tick-to-client latency and drops: N clients on one strategy, ticks at a set rate.")

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var load: LoadOptions

    @Option(help: "WebSocket clients, each subscribed to the benchmark strategy.")
    var clients = 1_000

    @Option(help: "Ticks per second fed through POST /api/ticks.")
    var rate = 500.0

    @Option(help: "Measured seconds.")
    var duration = 20.0

    @Option(help: "Seconds of feeding before measuring (not counted).")
    var warmup = 3.0

    func validate() throws {
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard rate > 0, duration > 0, warmup >= 0 else {
            throw ValidationError("--rate and --duration must be positive, --warmup not negative")
        }
    }

    func run() async throws {
        let report = try await broker.withBroker { session in
            let bench = LoadBench(
                session: session, load: load, clients: clients, expectedTicks: Int(rate * (duration + warmup) * 1.1))
            return try await bench.run { running in
                progress("feeding \(Format.rate(rate)) for \(Format.decimal(warmup)) s warm-up + \(Format.decimal(duration)) s")
                let result = try await running.measure(
                    rate: rate, warmup: .seconds(warmup), duration: .seconds(duration))
                var report = BenchReport(
                    title: "brokerbench latency: \(clients) clients × \(load.strategySize) codes,"
                        + " \(Format.rate(rate)) for \(Format.decimal(duration)) s (+\(Format.decimal(warmup)) s warm-up)")
                result.describe(into: &report)
                report.field("bench", .string("latency"))
                report.field("strategy_size", .int(load.strategySize))
                report.json += result.jsonMembers
                report.field("connect_seconds", .double(running.ramp.seconds))
                return report
            }
        }
        print(report.rendered)
    }
}
