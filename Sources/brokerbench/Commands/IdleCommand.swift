import ArgumentParser
import Foundation

/// `brokerbench idle`: what an idle subscribed connection costs the broker in memory.
struct IdleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "idle",
        abstract: "Memory per idle connection: N clients connect, subscribe once, and wait.")

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var load: LoadOptions

    @Option(help: "Idle WebSocket connections (this process can hold about 19,900 open files).")
    var clients = 10_000

    @Option(help: "Seconds to hold the connections open before reading the broker's RSS again.")
    var hold = 5.0

    func validate() throws {
        guard clients >= 1 else { throw ValidationError("--clients must be at least 1") }
        guard hold >= 0 else { throw ValidationError("--hold must not be negative") }
    }

    func run() async throws {
        let report = try await broker.withBroker { session in
            let idle = LoadBench(session: session, load: load, clients: clients, expectedTicks: 0)
            // Create the strategy first (run() replaces it again, harmlessly) and let the broker
            // settle, so the first reading holds no start-up garbage.
            try await session.withHTTP { http in
                try await http.expectSuccess(
                    .PUT, "/api/signals/\(idle.strategy.name)", json: idle.strategy.signalsBody())
            }
            try await Task.sleep(for: .seconds(1))
            let before = session.residentKilobytes
            return try await idle.run { running in
                try await Task.sleep(for: .seconds(hold))
                let after = session.residentKilobytes
                let subscribed = running.probes.count { $0.status == .subscribed }
                var ended: [String: Int] = [:]
                var refused = 0
                for probe in running.probes {
                    switch probe.status {
                    case .ended(let reason): ended[reason, default: 0] += 1
                    case .connected: refused += 1
                    default: break
                    }
                }
                let perConnection: Double? =
                    if let before, let after, subscribed > 0 { Double(after - before) / Double(subscribed) } else { nil }

                var report = BenchReport(title: "brokerbench idle: \(clients) connections, each subscribed once")
                report.row(
                    "connections",
                    "\(subscribed) subscribed, \(refused) refused, \(ended.values.reduce(0, +)) ended")
                for (reason, count) in ended.sorted(by: { $0.value > $1.value }).prefix(5) {
                    report.note("\(count) connection(s) ended: \(reason)")
                }
                if let first = running.probes.lazy.compactMap({ $0.errors.first }).first {
                    report.note("broker error message, first: \(first)")
                }
                report.row("broker RSS before", Format.megabytes(kilobytes: before))
                report.row("broker RSS after", Format.megabytes(kilobytes: after) + " (after \(Format.decimal(hold)) s idle)")
                report.row("per connection", perConnection.map { Format.decimal($0) + " KiB" } ?? "n/a")
                report.row("brokerbench RSS", Format.megabytes(kilobytes: ProcessStats.residentKilobytes(pid: ProcessInfo.processInfo.processIdentifier)))
                report.field("bench", .string("idle"))
                report.field("connections", .int(clients))
                report.field("subscribed", .int(subscribed))
                report.field("ended", .int(ended.values.reduce(0, +)))
                report.field("connect_seconds", .double(running.ramp.seconds))
                report.field("broker_rss_before_kb", .optional(before))
                report.field("broker_rss_after_kb", .optional(after))
                report.field("kb_per_connection", .optional(perConnection))
                return report
            }
        }
        print(report.rendered)
    }
}
