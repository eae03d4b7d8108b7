import ArgumentParser

/// The shape of a load: clients, strategy, connect ramp, pacing.
struct LoadOptions: ParsableArguments {
    @Option(help: "Codes in the benchmark strategy (600000…).")
    var strategySize = 50

    @Option(help: "Clients connecting at the same time during the connect ramp.")
    var connectConcurrency = 100

    @Option(help: "Seconds between a client's pings (the broker's heartbeat timeout defaults to 90 s).")
    var pingInterval = 30.0

    @Option(help: "Milliseconds between two POST /api/ticks when the broker keeps up.")
    var postInterval = 10.0

    @Option(help: "Most ticks in one POST.")
    var maxBatch = 5_000

    @Option(help: "Seconds to wait after the last tick for every client to receive it.")
    var drainTimeout = 10.0

    @Flag(help: "Print entries received and worst latency per second of each measured stretch (to stderr).")
    var timeline = false

    @Option(help: "Largest WebSocket frame the clients accept, in bytes.")
    var maxFrameSize = 1 << 22

    @Option(help: "Query the clients add to the WebSocket URL, e.g. price_interval=0.1 (each client its own price interval).")
    var clientQuery: String?

    @Flag(help: "Clients offer permessage-deflate, as browsers do, and inflate what comes compressed.")
    var clientCompression = false

    func validate() throws {
        guard (1...BenchStrategy.maximumSize).contains(strategySize) else {
            throw ValidationError("--strategy-size must be 1…\(BenchStrategy.maximumSize)")
        }
        guard connectConcurrency >= 1 else { throw ValidationError("--connect-concurrency must be at least 1") }
        guard pingInterval > 0, postInterval > 0, drainTimeout >= 0 else {
            throw ValidationError("--ping-interval and --post-interval must be positive, --drain-timeout not negative")
        }
        guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1") }
        if let clientQuery, clientQuery.isEmpty || clientQuery.contains(where: { $0 == "?" || $0 == "#" || $0.isWhitespace }) {
            throw ValidationError("--client-query is name=value pairs joined by &, without ?, # or spaces")
        }
    }
}
