import Foundation
import Testing
import TestSupport

/// The seed's own kind of client, Python's `websockets` package, against a real `brokerd serve`:
/// proof that a client written for the Python service works unchanged.
@Suite(.serialized) struct PythonClientTests {
    /// The script, next to the test sources.
    private static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("e2e/seed_client.py")

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
}
