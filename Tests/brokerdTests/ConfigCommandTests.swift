import Foundation
import Testing
import TestSupport

@testable import brokerd

/// `brokerd config`: the configuration serve would run with, each value with its source, or the
/// line start-up would stop with.
@Suite struct ConfigCommandTests {
    private var binary: URL { productsDirectory().appendingPathComponent("brokerd") }

    @Test func eachSettingIsShownWithWhereItsValueCameFrom() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "log_level = \"debug\"\n[limits]\nburst = 7\n[auth]\nadmin_token = \"hidden-token\"\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin", "BROKERD_MAX_CLIENTS": "50", "BROKERD_BURST": "9"]
        let run = try await runCommand(binary, ["config", "--config", config, "--port", "9001"], environment: environment)
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.lines
        #expect(lines.first == "configuration ok (config file: \(config))")
        func line(_ name: String) -> String? { lines.first { $0.hasPrefix(name + " = ") } }
        #expect(line("port")?.hasSuffix("# --port") == true && line("port")?.contains("= 9001") == true)
        #expect(line("max_clients")?.hasSuffix("# BROKERD_MAX_CLIENTS") == true)
        #expect(line("burst")?.contains("= 9") == true && line("burst")?.hasSuffix("# BROKERD_BURST") == true, "env over the file")
        #expect(line("log_level")?.hasSuffix("# \(config):1") == true)
        #expect(line("admin_token")?.contains("= set") == true && !run.stdout.contains("hidden-token"))
        #expect(line("heartbeat_timeout")?.hasSuffix("# default") == true)
        #expect(line("redis_url")?.contains("(not set)") == true)
        #expect(lines.count == Setting.allCases.count + 1)

        let json = try await runCommand(binary, ["config", "--config", config, "--json"], environment: environment)
        #expect(json.status == 0)
        let settings = json.json["settings"] as? [String: [String: Any]]
        #expect(settings?["burst"]?["value"] as? String == "9" && settings?["burst"]?["source"] as? String == "BROKERD_BURST")
        #expect(settings?["redis_url"]?["value"] is NSNull)
        #expect(json.json["file"] as? String == config)
    }

    @Test func aConfigurationThatDoesNotResolveIsOneLineAndExit2() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "[limits]\nburst = 0\n".write(toFile: config, atomically: true, encoding: .utf8)
        let run = try await runCommand(binary, ["config", "--config", config], environment: ["PATH": "/usr/bin:/bin"])
        #expect(run.status == 2 && run.stdout.isEmpty)
        #expect(run.stderr == "brokerd: invalid setting limits.burst=0 (from \(config):2): must be at least 1\n", "\(run.stderr)")
    }
}
