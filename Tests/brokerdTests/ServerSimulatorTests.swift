import Foundation
import Testing
import TestSupport

/// `brokerd serve` with the built-in simulator, run outside the repository as an installed broker
/// is (the systemd unit's working directory is /var/lib/brokerd).
@Suite(.serialized) struct ServerSimulatorTests {
    /// A broker with the simulator on, working in `dir`.
    private func startBroker(in dir: TemporaryDirectory, _ arguments: [String] = []) async throws -> BrokerProcess {
        try await BrokerProcess(
            journal: dir.path("journal.sqlite"), arguments: ["--simulator", "on"] + arguments, workingDirectory: dir.url.path)
    }

    /// Ticks the broker took since it started.
    private func ticks(_ broker: BrokerProcess) async throws -> Int {
        let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
        return (stats["ticks"] as? [String: Any])?["total"] as? Int ?? 0
    }

    /// Waits up to 10 s for `condition`.
    private func waitUntil(_ condition: () async throws -> Bool) async throws {
        for _ in 0..<200 {
            if try await condition() { return }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    @Test func withoutASignalsFileInItsDirectoryTheSimulatorTradesTheBuiltInMarket() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await startBroker(in: dir)
        try await waitUntil { try await ticks(broker) > 0 }

        #expect(try await ticks(broker) > 0)
        #expect(broker.logText.contains("market=built-in"), "\(broker.logText)")
        let (_, body) = try await HTTP.request("GET", broker.baseURL + "/api/strategies")
        let names = (body["strategies"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names == ["breakout", "volume_wave"])
        await broker.terminate()
    }

    @Test func aReloadedRateReachesTheRunningSimulator() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        // One tick a second: two thousand would take over half an hour.
        try "[simulator]\nrate = 1\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await startBroker(in: dir, ["--config", config])
        try await waitUntil { try await ticks(broker) > 0 }
        #expect(try await ticks(broker) < 100)

        let (status, body) = try await broker.reload(writing: "[simulator]\nrate = 5000\n", to: config)
        #expect(status == 200 && body["applied"] as? [String] == ["simulator_rate"], "\(body)")
        try await waitUntil { try await ticks(broker) >= 2_000 }
        #expect(try await ticks(broker) >= 2_000)
        let settings = try await HTTP.request("GET", broker.baseURL + "/api/config").1["settings"] as? [String: Any]
        #expect(settings?["simulator_rate"] as? String == "5000", "\(settings ?? [:])")
        #expect(await broker.terminate() == 0)
    }

    @Test func aSignalsFileThatCannotBeUsedTurnsTheSimulatorOffNamingItsAbsolutePath() async throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path("Config"), withIntermediateDirectories: true)
        try Data(#"{"strategies": [{"name": "breakout", "signals": [{"code": "600519"}]}]}"#.utf8)
            .write(to: URL(fileURLWithPath: dir.path("Config/signals.json")))
        let broker = try await startBroker(in: dir)
        try await waitUntil { broker.logText.contains("simulator off") }

        let warning = try #require(broker.logText.split(separator: "\n").first { $0.contains("simulator off") })
        #expect(warning.contains("signals=\(dir.path("Config/signals.json"))"), "\(warning)")
        #expect(warning.contains("not a valid signals file"), "\(warning)")
        #expect(!broker.logText.contains("market=built-in"))
        #expect(try await ticks(broker) == 0)
        await broker.terminate()
    }

    @Test func theSignalsFileSettingIsTradedFromAnyDirectory() async throws {
        let dir = try TemporaryDirectory()
        let signals = dir.path("markets/signals.json")
        try FileManager.default.createDirectory(atPath: dir.path("markets"), withIntermediateDirectories: true)
        try Data(#"{"strategies": [{"name": "solo", "signals": [{"code": "300750", "name": "宁德时代", "prev_close": 255.8}]}]}"#.utf8)
            .write(to: URL(fileURLWithPath: signals))
        let broker = try await startBroker(in: dir, ["--simulator-signals", "markets/signals.json"])
        try await waitUntil { try await ticks(broker) > 0 }

        #expect(broker.logText.contains("market=\(signals) "), "\(broker.logText)")
        let (_, body) = try await HTTP.request("GET", broker.baseURL + "/api/strategies")
        #expect((body["strategies"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["solo"])
        await broker.terminate()
    }
}
