import Histogram
import NIOCore

/// The outcome of one measured stretch of feeding at one rate.
struct PhaseResult: Sendable {
    let targetRate: Double
    let feed: FeedReport
    /// Clients subscribed when measuring began: each should receive every measured tick.
    let clients: Int
    /// All clients' tallies added up.
    let tally: DeliveryTally
    /// Tick-to-client latency of every measured entry, in microseconds.
    let latency: Histogram<UInt64>
    /// Whether every client received the last tick of every code before the drain timeout.
    let drained: Bool
    let drainSeconds: Double
    /// Clients whose connection ended during the stretch, by reason.
    let endedClients: [String: Int]
    let brokerErrorMessages: Int
    let firstBrokerError: String?
    let brokerKilobytes: Int?
    let cpu: CPUUsage

    var expected: UInt64 { UInt64(feed.ticks) * UInt64(clients) }
    var received: UInt64 { tally.received }
    var coalesced: UInt64 { tally.coalesced }
    /// Expected entries neither received nor superseded by a later tick of their code.
    var lost: UInt64 {
        let accounted = tally.received + tally.coalesced
        return expected > accounted ? expected - accounted : 0
    }
    var deliveriesPerSecond: Double { feed.seconds > 0 ? Double(tally.received) / feed.seconds : 0 }
    var messagesPerSecond: Double { feed.seconds > 0 ? Double(tally.priceMessages) / feed.seconds : 0 }
    var disconnects: Int { endedClients.values.reduce(0, +) }
    func percentile(_ value: Double) -> UInt64 {
        latency.percentileOrZero(value)
    }

    /// Table rows describing this phase.
    func describe(into report: inout BenchReport) {
        report.row(
            "ticks fed",
            "\(Format.count(feed.ticks)) in \(Format.decimal(feed.seconds)) s = \(Format.rate(feed.ticksPerSecond))"
                + " (target \(Format.rate(targetRate))), \(Format.count(feed.posts)) POSTs,"
                + " POST p50 \(Format.micros(feed.postMicros.percentileOrZero(50)))"
                + " p99 \(Format.micros(feed.postMicros.percentileOrZero(99)))")
        describeDeliveries(into: &report)
    }

    /// Table rows about what reached the clients and what it cost, without the feed's row.
    func describeDeliveries(into report: inout BenchReport) {
        report.row("deliveries", "\(Format.rate(deliveriesPerSecond)) price entries to clients")
        report.row("price messages", Format.rate(messagesPerSecond))
        report.row(
            "latency tick→client",
            "p50 \(Format.micros(percentile(50)))  p99 \(Format.micros(percentile(99)))"
                + "  p99.9 \(Format.micros(percentile(99.9)))  max \(Format.micros(latency.maxRecorded))")
        report.row(
            "entries",
            "expected \(Format.count(expected)), received \(Format.count(received)),"
                + " coalesced \(Format.count(coalesced)), lost \(Format.count(lost))")
        if tally.duplicates + tally.mismatched + tally.unknown > 0 {
            report.row(
                "odd entries",
                "duplicates \(tally.duplicates), wrong code \(tally.mismatched), unknown tick id \(tally.unknown)")
        }
        report.row(
            "clients",
            "\(clients) measured, \(disconnects) disconnected during the run"
                + (drained ? ", all got the last ticks within \(Format.decimal(drainSeconds, places: 2)) s"
                    : ", NOT all got the last ticks within the drain timeout"))
        for (reason, count) in endedClients.sorted(by: { $0.value > $1.value }).prefix(5) {
            report.note("\(count) client(s) ended: \(reason)")
        }
        if brokerErrorMessages > 0 {
            report.note("\(brokerErrorMessages) error message(s) from the broker, first: \(firstBrokerError ?? "")")
        }
        if lost > 0 { report.note("\(Format.count(lost)) expected entries were lost") }
        if tally.duplicates > 0 {
            report.note("\(Format.count(tally.duplicates)) entries arrived again, or after a newer price of their code: the broker repeated or reordered them")
        }
        report.row(
            "broker",
            "RSS \(Format.megabytes(kilobytes: brokerKilobytes)), CPU "
                + (cpu.brokerCores.map { Format.decimal($0, places: 2) + " cores" } ?? "n/a"))
        report.row(
            "brokerbench CPU",
            "\(Format.decimal(cpu.toolCores, places: 2)) cores (user \(Format.decimal(cpu.toolUserSeconds)) s,"
                + " sys \(Format.decimal(cpu.toolSystemSeconds)) s) of \(System.coreCount) cores")
        if let machineCores = cpu.machineCores {
            report.row(
                "machine CPU",
                "\(Format.decimal(machineCores, places: 2)) cores busy,"
                    + " other processes \(cpu.otherCores.map { Format.decimal($0, places: 2) } ?? "n/a") cores")
            if let otherCores = cpu.otherCores, otherCores > 0.1 {
                report.note(
                    "other processes used \(Format.decimal(otherCores, places: 2)) cores during the run: numbers are not clean")
            }
        }
    }

    /// JSON members describing this phase.
    var jsonMembers: [(String, JSONValue)] {
        [
            ("rate_target", .double(targetRate)),
            ("rate_achieved", .double(feed.ticksPerSecond)),
            ("ticks", .int(feed.ticks)),
            ("seconds", .double(feed.seconds)),
        ] + deliveryJSONMembers
    }

    /// JSON members about what reached the clients and what it cost, without the feed's.
    var deliveryJSONMembers: [(String, JSONValue)] {
        [
            ("clients", .int(clients)),
            ("deliveries_per_s", .double(deliveriesPerSecond)),
            ("messages_per_s", .double(messagesPerSecond)),
            ("latency_us", latency.latencySummaryJSON),
            ("expected", .int(Int(expected))),
            ("received", .int(Int(received))),
            ("coalesced", .int(Int(coalesced))),
            ("lost", .int(Int(lost))),
            ("duplicates", .int(Int(tally.duplicates))),
            ("disconnects", .int(disconnects)),
            ("broker_errors", .int(brokerErrorMessages)),
            ("drained", .bool(drained)),
            ("broker_rss_kb", .optional(brokerKilobytes)),
            ("broker_cpu_cores", .optional(cpu.brokerCores)),
            ("tool_cpu_cores", .double(cpu.toolCores)),
            ("other_cpu_cores", .optional(cpu.otherCores)),
        ]
    }
}
