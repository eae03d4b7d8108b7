#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A throwaway `redis-server` the benchmark starts on a free loopback port, without persistence,
/// and stops at the end.
struct RedisServerProcess: Sendable {
    let pid: pid_t
    let port: Int
    let directory: String
    var logPath: String { directory + "/redis-server.log" }
    var endpoint: RedisEndpoint { RedisEndpoint(localPort: port) }

    /// Starts `executable` (looked up on PATH) with `extraArguments` after the benchmark's own,
    /// and waits until it answers PING.
    static func launch(executable: String, extraArguments: [String]) async throws -> RedisServerProcess {
        guard let path = resolve(executable) else { throw RedisBenchError.serverMissing(executable: executable) }
        let port = try FreePort.pick()
        let directory = FileManager.default.temporaryDirectory.path + "/brokerbench-redis-\(getpid())-\(port)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let arguments = [
            path, "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", directory, "--logfile", "",
        ] + extraArguments
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, directory + "/redis-server.log", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        // The spawning thread may be one of NIO's, which block most signals; a child inherits
        // that mask, and a redis-server with SIGTERM blocked ignores the request to stop.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP] { sigaddset(&defaultSignals, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv = arguments.map { strdup($0) }
        argv.append(nil)
        var envp = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") }
        envp.append(nil)
        defer { (argv + envp).forEach { free($0) } }
        var pid = pid_t()
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        guard result == 0 else {
            try? FileManager.default.removeItem(atPath: directory)
            throw BrokerLaunchError.spawnFailed(path: path, errno: result)
        }
        let server = RedisServerProcess(pid: pid, port: port, directory: directory)
        try await server.waitUntilAnswering(timeout: .seconds(15))
        return server
    }

    /// Sends SIGTERM, waits up to `grace` for the exit, then SIGKILL; removes the scratch directory.
    func stop(grace: Duration = .seconds(5)) async -> String {
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + grace
        var status: Int32 = 0
        var ending = "did not exit within \(Int(grace.seconds)) s of SIGTERM; killed"
        while ContinuousClock.now < deadline {
            if waitpid(pid, &status, WNOHANG) == pid {
                let signal = status & 0x7f
                ending = signal == 0 ? "exit \((status >> 8) & 0xff)" : "killed by signal \(signal)"
                break
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if ending.hasPrefix("did not") {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(atPath: directory)
        return ending
    }

    private func waitUntilAnswering(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let connection = try? endpoint.connect(timeout: .seconds(1)),
                case .status("PONG") = try? connection.command(["PING"])
            {
                return
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let log = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "(no log)"
        _ = await stop()
        throw RedisBenchError.serverNotAnswering(
            port: port, log: log.split(separator: "\n").suffix(10).joined(separator: "\n"))
    }

    /// The executable's path: as given when it contains a slash, else the first match on PATH.
    private static func resolve(_ executable: String) -> String? {
        if executable.contains("/") { return access(executable, X_OK) == 0 ? executable : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where access("\(directory)/\(executable)", X_OK) == 0 {
            return "\(directory)/\(executable)"
        }
        return nil
    }
}
