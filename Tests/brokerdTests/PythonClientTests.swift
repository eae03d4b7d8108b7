import Foundation
import Testing
import TestSupport

/// The seed's own kind of client, Python's `websockets` package, against a real `brokerd serve`:
/// proof that a client written for the Python service works unchanged.
@Suite(.serialized) struct PythonClientTests {
    /// The scripts, next to the test sources.
    private static let e2e = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("e2e")
    private static let script = e2e.appendingPathComponent("seed_client.py")

    /// A Python that has `websockets`: Debian's (scripts/setup --tests installs python3-websockets), else
    /// the first `python3` on PATH that has it.
    private static func pythonWithWebSockets() async throws -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = ["/usr/bin/python3"] + path.split(separator: ":").map { "\($0)/python3" }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            let url = URL(fileURLWithPath: candidate)
            if try await runCommand(url, ["-c", "import websockets"]).status == 0 { return url }
        }
        return nil
    }

    @Test func theSeedsPythonClientRunsTheFlowAndResumes() async throws {
        let python = try #require(
            try await Self.pythonWithWebSockets(),
            "no python3 with the websockets package: run scripts/setup --tests (installs python3-websockets)")
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"))
        let (status, body) = try await HTTP.request(
            "PUT", broker.baseURL + "/api/signals/volume_wave",
            body: #"{"signals":[{"code":"600519","name":"贵州茅台"},{"code":"000001","name":"平安银行"}]}"#)
        #expect(status == 200, "PUT signals: \(body)")

        let run = try await runCommand(python, [Self.script.path, broker.webSocketURL, broker.baseURL, "volume_wave", "600519"])
        #expect(run.status == 0, "seed_client.py failed: \(run.stderr)\n\(run.stdout)")
        let steps = Dictionary(run.jsonLines.compactMap { line in (line["step"] as? String).map { ($0, line) } }) { first, _ in first }
        #expect(steps.keys.sorted() == ["connected", "error", "pong", "pushed", "resumed", "snapshot", "unsubscribed", "usable_after_error"])
        #expect(steps["pushed"]?["price"] as? Double == 21.5)
        #expect(steps["pushed"]?["change_percent"] as? Double == 7.5)
        #expect(steps["error"]?["error"] as? String == "invalid_json")
        #expect(steps["resumed"]?["missed_price"] as? Double == 22.75)

        // The client the script saw is the one the journal knows, resumed rather than replaced.
        let clientID = try #require(run.jsonLines.last?["client_id"] as? String)
        #expect(steps["connected"]?["client_id"] as? String == clientID)
        // Python's websockets offers permessage-deflate: the whole flow above ran compressed.
        #expect(steps["connected"]?["extensions"] as? String == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        #expect(await broker.terminate() == 0)
        let events = try await runCommand(
            productsDirectory().appendingPathComponent("brokerd"),
            ["journal", "events", "--journal", broker.journalPath, "--client", clientID])
        let kinds = events.jsonLines.compactMap { $0["kind"] as? String }
        // Connected, then resumed under the same id: the subscription came back without a
        // second subscribe.
        #expect(kinds.filter { $0 == "client_connected" }.count == 2, "\(kinds)")
        #expect(kinds.filter { $0 == "client_disconnected" }.count == 2, "\(kinds)")
        #expect(kinds.filter { $0 == "subscribed" }.count == 1, "\(kinds)")
        #expect(kinds.filter { $0 == "unsubscribed" }.count == 1, "\(kinds)")
    }

    /// Thousands of mutated messages, bodies and query strings (fixed seeds: the same each run)
    /// crash nothing and get no 5xx, every connection ends with a close frame of an expected code
    /// or stays usable, and the journal they leave verifies. The script runs by hand with other
    /// seeds and more rounds (`Tests/e2e/fuzz_client.py URL ROUNDS SEED`).
    @Test func mutatedMessagesAndBodiesAreRefusedWithoutHarm() async throws {
        let python = try #require(
            try await Self.pythonWithWebSockets(),
            "no python3 with the websockets package: run scripts/setup --tests (installs python3-websockets)")
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"))
        for seed in [1, 2] {
            let run = try await runCommand(python, [Self.e2e.appendingPathComponent("fuzz_client.py").path, broker.baseURL, "1500", "\(seed)"])
            #expect(run.status == 0, "fuzz_client.py failed: \(run.stderr)")
            let summary = try #require(run.jsonLines.last, "no summary: \(run.stdout)")
            #expect(summary["rounds"] as? Int == 1500 && summary["healthz"] as? Int == 200, "\(summary)")
            #expect(summary["count"] as? Int == 0, "seed \(seed): \(summary["problems"] ?? "")")
        }
        // A well-behaved client is served as ever.
        let client = TestWebSocket(url: broker.webSocketURL)
        #expect(try await client.receive()?["type"] as? String == "connected")
        try client.send(["type": "ping", "id": 1])
        #expect(try await client.receive(type: "pong")?["id"] as? Int == 1)
        await client.close()
        #expect(await broker.terminate() == 0)
        #expect(!broker.logText.contains("Fatal error"), "\(broker.logText.suffix(2_000))")
        let verify = try await runCommand(productsDirectory().appendingPathComponent("brokerd"), ["journal", "verify", "--journal", broker.journalPath])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
    }

    /// Thousands of mutated messages on every shared Redis channel and the shared log (fixed
    /// seeds), as a faulty node or feeder would send: the broker refuses or takes each, stays up,
    /// logs no warning over and over (each kind is throttled), and leaves a journal that verifies.
    @Test func mutatedSharedMessagesAreRefusedWithoutHarmOrAFloodOfLogLines() async throws {
        let python = try #require(
            try await Self.pythonWithWebSockets(),
            "no python3 with the websockets package: run scripts/setup --tests (installs python3-websockets)")
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"), arguments: ["--redis-url", redis.url])
        for seed in [1, 2] {
            let run = try await runCommand(
                python, [Self.e2e.appendingPathComponent("fuzz_shared.py").path, "\(redis.port)", broker.baseURL, "2000", "\(seed)"])
            #expect(run.status == 0, "fuzz_shared.py failed: \(run.stderr)")
            let summary = try #require(run.jsonLines.last, "no summary: \(run.stdout)")
            #expect(summary["healthz"] as? Int == 200, "\(summary)")
            let stats = summary["redis"] as? [String: Any] ?? [:]
            #expect((stats["malformed"] as? Int ?? 0) > 0 && (stats["shared"] as? Int ?? 0) > 0, "the fuzzing reached the broker: \(stats)")
            #expect(stats["state"] as? String == "connected", "\(stats)")
        }
        // The last message of each run is a valid removal: both acted on, everything before them read.
        for _ in 0..<400 where broker.logText.components(separatedBy: "user=fuzz-done").count - 1 < 2 {
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(broker.logText.components(separatedBy: "user=fuzz-done").count - 1 == 2)
        #expect(await broker.terminate() == 0)
        let repeated = Dictionary(
            broker.logText.split(separator: "\n").filter { $0.contains(" warning ") || $0.contains(" error ") }.map { line in
                (line.split(separator: "] ").last.map(String.init) ?? String(line), 1)
            }, uniquingKeysWith: +)
        #expect(repeated.values.allSatisfy { $0 <= 3 }, "warnings logged over and over: \(repeated.filter { $0.value > 3 })")
        #expect(!broker.logText.contains("Fatal error"))
        let verify = try await runCommand(productsDirectory().appendingPathComponent("brokerd"), ["journal", "verify", "--journal", broker.journalPath])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
    }
}
