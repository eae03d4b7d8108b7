import ArgumentParser

/// Load and latency benchmark of `brokerd serve`: WebSocket clients, ticks fed over HTTP or through Redis.
@main
struct BrokerBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brokerbench",
        abstract: "Measures brokerd: tick-to-client latency, idle connection cost, highest delivery rate, Redis ingest.",
        discussion: """
            Start a broker yourself and point brokerbench at it (--port, --broker-pid for RSS), or let
            brokerbench start one on a free port with --spawn PATH and stop it afterwards.
            Every subcommand prints a small table and, as its last line, one JSON object.
            """,
        subcommands: [LatencyCommand.self, IdleCommand.self, MaxCommand.self, RedisCommand.self, FloorCommand.self]
    )
}
