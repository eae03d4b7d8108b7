import Foundation
import Testing

/// The browser client's own unit tests (`Tests/js`, Node's built-in test runner): its reconnect,
/// resume, re-subscribe and dead-connection rules on a fake clock. `ConsoleBrowserTests` runs the
/// same client in Chromium against a real broker.
@Suite struct JavaScriptClientTests {
    private static let tests = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("js/brokerd-client.test.js")

    /// Debian's `node` (scripts/setup --tests installs nodejs), else the first on PATH.
    private static var node: URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let candidates = ["/usr/bin/node"] + path.split(separator: ":").map { "\($0)/node" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }.map(URL.init(fileURLWithPath:))
    }

    @Test func theBrowserClientsUnitTestsPass() async throws {
        let node = try #require(Self.node, "no node on PATH: run scripts/setup --tests (installs nodejs)")
        let run = try await runCommand(node, ["--test", "--test-reporter=tap", Self.tests.path])
        #expect(run.status == 0, "node --test failed:\n\(run.stdout)\n\(run.stderr)")
        // The TAP summary: every test of the file ran and passed.
        let declared = try String(contentsOf: Self.tests, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("test(") }.count
        #expect(declared >= 17)
        #expect(run.lines.contains("# pass \(declared)"), "\(run.stdout)")
        #expect(run.lines.contains("# fail 0"), "\(run.stdout)")
    }
}
