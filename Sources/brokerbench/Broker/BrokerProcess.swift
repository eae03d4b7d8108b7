#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A broker process the benchmark started itself, with its journal and log in a scratch directory.
struct BrokerProcess: Sendable {
    let pid: pid_t
    let port: Int
    let directory: String
    var logPath: String { directory + "/brokerd.log" }
    var journalPath: String { directory + "/journal.sqlite" }

    /// Starts `path serve` with a fresh journal and limits fit for the benchmark, on a port the
    /// broker itself binds (`--port 0`) and then names in its log: a port picked here and passed
    /// on could be taken by another process meanwhile, and the benchmark would measure that one.
    static func launch(path: String, host: String, adminToken: String?, extraArguments: [String]) async throws
        -> BrokerProcess
    {
        let directory = FileManager.default.temporaryDirectory.path + "/brokerbench-\(getpid())-\(UInt32.random(in: .min ... .max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var arguments = [
            path, "serve",
            "--host", host,
            "--port", "0",
            "--journal", directory + "/journal.sqlite",
            "--simulator", "off",
            "--max-clients", "20000",
            "--messages-per-second", "1000",
            "--burst", "1000",
        ]
        if let adminToken { arguments += ["--admin-token", adminToken] }
        arguments += extraArguments

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        let logPath = directory + "/brokerd.log"
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)

        var argv = arguments.map { strdup($0) }
        argv.append(nil)
        var envp = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") }
        envp.append(nil)
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let result = posix_spawn(&pid, path, &actions, nil, argv, envp)
        guard result == 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            throw BrokerLaunchError.spawnFailed(path: path, errno: result)
        }
        let port = try await listeningPort(pid: pid, logPath: logPath)
        return BrokerProcess(pid: pid, port: port, directory: directory)
    }

    /// The port the broker logs once it listens (`port=N [brokerd] listening`), after replay.
    private static func listeningPort(pid: pid_t, logPath: String, timeout: Duration = .seconds(60)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let match = log.firstMatch(of: /port=(\d+) \[brokerd\] listening/), let port = Int(match.1) { return port }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw BrokerLaunchError.exitedEarly(status: describe(status), log: String(log.suffix(2_000)))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        throw BrokerLaunchError.notListening(seconds: timeout.components.seconds)
    }

    /// The exit status if the process has ended, without waiting.
    func exitStatus() -> String? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return Self.describe(status)
    }

    /// Sends SIGTERM, waits up to `grace` for a clean exit, then SIGKILL. Returns how it ended.
    func stop(grace: Duration = .seconds(10)) async -> String {
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        var status: Int32 = 0
        while ContinuousClock.now < deadline {
            if waitpid(pid, &status, WNOHANG) == pid { return Self.describe(status) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
        return "did not exit within \(Int(grace.seconds)) s of SIGTERM; killed"
    }

    /// The last lines of the broker's log.
    func logTail(lines: Int = 20) -> String {
        guard let log = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "(no log)" }
        return log.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    func removeDirectory() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func describe(_ status: Int32) -> String {
        let signal = status & 0x7f
        return signal == 0 ? "exit \((status >> 8) & 0xff)" : "killed by signal \(signal)"
    }
}
