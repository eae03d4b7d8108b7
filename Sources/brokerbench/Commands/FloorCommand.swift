import ArgumentParser

/// `brokerbench floor`: the latency a fan-out round has on this machine with nothing but the
/// system calls (see `LoopbackFanOutFloor`); no broker involved.
struct FloorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "floor",
        abstract: "The machine's floor for `latency`: raw loopback writes and reads, no broker.",
        discussion: """
            Makes --clients loopback TCP connections in this process. --writers threads write one
            --message-size message to each of their sockets every --interval ms (one write per socket,
            as the broker's fan-out does; rounds that fall due while one is written are merged);
            --readers threads epoll and read them. Reports the time from a round being due to each
            message being read. Run it on the same cores the broker and the load tool share.
            """)

    @Option(help: "Loopback connections (the latency benchmark's clients).")
    var clients = 1_000

    @Option(help: "Writing threads (the broker's event loops).")
    var writers = 2

    @Option(help: "Reading threads (the load tool's event loops).")
    var readers = 2

    @Option(help: "Kernel policy of the reading threads: batch or normal (as latency's --client-scheduling).")
    var readerScheduling = ClientScheduling.batch

    @Option(help: "Bytes per message (a price_update frame of a few entries is about 1,000–1,500).")
    var messageSize = 1_200

    @Option(help: "Milliseconds between rounds (brokerbench latency posts every 10 ms).")
    var interval = 10.0

    @Option(help: "Seconds of rounds before measuring.")
    var warmup = 3.0

    @Option(help: "Measured seconds.")
    var duration = 20.0

    func validate() throws {
        guard clients >= 1, writers >= 1, readers >= 1 else {
            throw ValidationError("--clients, --writers and --readers must be at least 1")
        }
        guard messageSize >= 8 else { throw ValidationError("--message-size must be at least 8 (the timestamp)") }
        guard interval > 0, warmup >= 0, duration > 0 else {
            throw ValidationError("--interval and --duration must be positive, --warmup not negative")
        }
    }

    func run() throws {
        _ = ProcessStats.raiseOpenFileLimit()
        let floor = LoopbackFanOutFloor(
            configuration: .init(
                clients: clients, writers: writers, readers: readers, readerScheduling: readerScheduling, messageSize: messageSize,
                interval: .microseconds(Int64(interval * 1_000)), warmup: .seconds(warmup), duration: .seconds(duration)))
        let result = try floor.run()
        let latencies = result.latencies
        func percentile(_ value: Double) -> UInt64 { latencies.percentileOrZero(value) }

        var report = BenchReport(
            title: "brokerbench floor: \(clients) loopback sockets, \(writers) writers, \(readers) readers,"
                + " \(messageSize)-byte messages every \(Format.decimal(interval)) ms")
        report.row("messages", "\(Format.count(result.messages)) (\(Format.rate(Double(result.messages) / result.seconds)))")
        report.row("rounds", "\(Format.count(result.rounds)) per writer, \(Format.count(result.mergedRounds)) merged into later ones")
        report.row(
            "latency", "p50 \(Format.micros(percentile(50))), p99 \(Format.micros(percentile(99))),"
                + " p99.9 \(Format.micros(percentile(99.9))), max \(Format.micros(latencies.maxRecorded))")
        report.row("CPU", "\(Format.decimal(result.cpuCores, places: 2)) cores (writers and readers together)")
        if result.wouldBlock > 0 { report.note("\(result.wouldBlock) writes found a full socket buffer and were skipped") }
        report.field("bench", .string("floor"))
        report.field("clients", .int(clients))
        report.field("writers", .int(writers))
        report.field("readers", .int(readers))
        report.field("reader_scheduling", .string(readerScheduling.rawValue))
        report.field("message_size", .int(messageSize))
        report.field("interval_ms", .double(interval))
        report.field("messages_per_s", .double(Double(result.messages) / result.seconds))
        report.field("merged_rounds", .int(Int(result.mergedRounds)))
        report.field("latency_us", latencies.latencySummaryJSON)
        report.field("cpu_cores", .double(result.cpuCores))
        report.field("would_block", .int(Int(result.wouldBlock)))
        print(report.rendered)
    }
}
