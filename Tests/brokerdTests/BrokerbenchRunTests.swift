import Foundation
import Testing

/// `brokerbench`, the load tool of BENCHMARKS.md, run end to end on a small load against a real
/// broker it spawns (and a real redis-server for `redis`): every tick it feeds must be accounted
/// for, or its figures for lost and duplicate entries could not be believed at full load.
struct BrokerbenchRunTests {
    private let binaries = productsDirectory()

    /// Runs `brokerbench arguments…` and returns the JSON object of its last line.
    private func bench(_ arguments: [String]) async throws -> [String: Any] {
        let result = try await runCommand(binaries.appendingPathComponent("brokerbench"), arguments)
        #expect(result.status == 0, "brokerbench \(arguments.joined(separator: " ")) failed: \(result.stderr.suffix(2_000))")
        let last = result.lines.last ?? ""
        let object = (try? JSONSerialization.jsonObject(with: Data(last.utf8))) as? [String: Any]
        return try #require(object, "no JSON report in: \(result.stdout.suffix(1_000))")
    }

    private var spawn: [String] { ["--spawn", binaries.appendingPathComponent("brokerd").path, "--threads", "1"] }

    /// Every expected entry arrived or was superseded, none twice, and the broker stopped cleanly.
    private func expectEveryTickAccountedFor(_ report: [String: Any], clients: Int) {
        let expected = report["expected"] as? Int ?? 0
        let received = report["received"] as? Int ?? -1
        let coalesced = report["coalesced"] as? Int ?? -1
        #expect(expected > 0)
        #expect(report["clients"] as? Int == clients)
        #expect(received + coalesced == expected, "\(report)")
        #expect(report["lost"] as? Int == 0)
        #expect(report["duplicates"] as? Int == 0)
        #expect(report["disconnects"] as? Int == 0)
        #expect(report["drained"] as? Bool == true)
        #expect((report["broker_shutdown"] as? String)?.hasPrefix("exit 0") == true, "\(report)")
    }

    /// With and without the clients offering permessage-deflate (then every price update comes
    /// compressed and the tool inflates it).
    @Test(arguments: [false, true])
    func latencyAccountsForEveryTickFedOverHTTP(compression: Bool) async throws {
        let report = try await bench(
            ["latency"] + spawn + ["--clients", "20", "--rate", "200", "--duration", "1", "--warmup", "0.5"]
                + (compression ? ["--client-compression"] : []))
        expectEveryTickAccountedFor(report, clients: 20)
        #expect(report["client_compression"] as? Bool == (compression ? true : nil))
        #expect(report["compressed_clients"] as? Int == (compression ? 20 : nil), "every client got its updates deflated")
        // Each measured tick to every client.
        let ticks = report["ticks"] as? Int ?? 0
        #expect(ticks > 0)
        #expect(report["expected"] as? Int == ticks * 20)
    }

    @Test(arguments: ["channel", "stream"])
    func redisAccountsForEveryTickPublished(via: String) async throws {
        let report = try await bench(
            ["redis"] + spawn
                + ["--clients", "10", "--rate", "2000", "--duration", "1", "--warmup", "0.5", "--via", via])
        expectEveryTickAccountedFor(report, clients: 10)
        #expect(report["via"] as? String == via)
        #expect(report["redis_reconnects"] as? Int == 0)
    }

    @Test func idleHoldsEveryConnectionSubscribed() async throws {
        let report = try await bench(["idle"] + spawn + ["--clients", "100", "--hold", "1"])
        #expect(report["connections"] as? Int == 100)
        #expect(report["subscribed"] as? Int == 100)
        #expect(report["ended"] as? Int == 0)
        #expect((report["kb_per_connection"] as? Double).map { $0 > 0 } == true, "\(report)")
    }

    @Test func floorWritesAndReadsEveryRound() async throws {
        let report = try await bench(["floor", "--clients", "20", "--warmup", "0", "--duration", "0.5"])
        #expect(report["clients"] as? Int == 20)
        // How many rounds it managed depends on the machine; that it measured some does not.
        #expect((report["messages_per_s"] as? Double).map { $0 > 0 } == true, "\(report)")
        #expect(report["latency_us"] is [String: Any])
    }
}
