/// Connects the clients, creates the strategy, and measures stretches of feeding at set rates.
struct LoadBench {
    let session: BrokerSession
    let load: LoadOptions
    let clientCount: Int
    let strategy: BenchStrategy
    let sendTimes: SendTimeTable

    init(session: BrokerSession, load: LoadOptions, clients: Int, expectedTicks: Int) {
        self.session = session
        self.load = load
        self.clientCount = clients
        self.strategy = BenchStrategy(size: load.strategySize)
        self.sendTimes = SendTimeTable(expectedTicks: expectedTicks)
    }

    /// Creates the strategy, connects and subscribes the clients, runs `body`, disconnects.
    ///
    /// `body` runs on the feed's own event loop thread, so the feed's pacing and POST timings do
    /// not wait behind the clients' work.
    func run(_ body: (inout Running) async throws -> BenchReport) async throws -> BenchReport {
        try await session.withHTTP { http in
            try await http.expectSuccess(.PUT, "/api/signals/\(strategy.name)", json: strategy.signalsBody())
        }
        let url = session.webSocketURL + (load.clientQuery.map { "?" + $0 } ?? "")
        guard let target = BenchTarget(url: url) else {
            throw BenchTargetError(host: session.host, port: session.port, reason: "not a ws:// URL")
        }
        let client = BenchClient(
            target: target, strategy: strategy, sendTimes: sendTimes, maximumFrameSize: load.maxFrameSize,
            pingInterval: .seconds(load.pingInterval), compression: load.clientCompression)
        let fleet = ClientFleet(
            client: client, count: clientCount, threads: session.clientThreads, scheduling: session.clientScheduling,
            connectConcurrency: load.connectConcurrency)
        progress("connecting \(clientCount) clients to \(url)…")
        return try await fleet.run { connected in
            let ramp = connected.ramp
            let rampText =
                "\(ramp.subscribed) of \(clientCount) subscribed in \(Format.decimal(ramp.seconds, places: 2)) s"
            progress(rampText)
            return try await withTaskExecutorPreference(EventLoopTaskExecutor(session.feedEventLoop)) {
                let feeder = TickFeeder(
                    strategy: strategy, sendTimes: sendTimes,
                    interval: .microseconds(Int64(load.postInterval * 1000)), maximumBatch: load.maxBatch)
                var running = Running(bench: self, fleet: connected, feeder: feeder)
                var report = try await body(&running)
                report.row("connect ramp", rampText)
                report.row("client threads", "\(session.clientThreads), \(session.clientScheduling.rawValue) scheduling")
                report.field("client_scheduling", .string(session.clientScheduling.rawValue))
                if load.clientCompression {
                    // The clients that got anything compressed: the broker took their offer.
                    let compressing = running.probes.filter { $0.compressedMessages > 0 }.count
                    report.row("client compression", "permessage-deflate offered; \(compressing) of \(clientCount) got compressed messages")
                    report.field("client_compression", .bool(true))
                    report.field("compressed_clients", .int(compressing))
                }
                if let query = load.clientQuery {
                    report.row("client query", query)
                    report.field("client_query", .string(query))
                }
                return report
            }
        }
    }
}
