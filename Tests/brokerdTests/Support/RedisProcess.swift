import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real redis-server on a free loopback port, driven with redis-cli; it can be killed and
/// started again on the same port, as an outage would.
final class RedisProcess {
    let port: Int
    /// What redis-server is started with.
    private let arguments: [String]
    /// Its working directory, of its own: a replica writes the copy it syncs there (dump.rdb).
    private let directory = NSTemporaryDirectory() + "brokerd-redis-\(UUID().uuidString)"
    private var process: Process?
    /// A sentinel's log file; nil for a server.
    private let sentinelLog: String?

    /// A server; `arguments` go after the test defaults (`--replicaof HOST PORT`).
    init(arguments extra: [String] = []) async throws {
        port = try freePort()
        arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory] + extra
        sentinelLog = nil
        try await start()
    }

    /// A Redis Sentinel monitoring `master` under `name` (`RedisSentinelConfiguration`), its file in `directory`.
    init(sentinelOf master: RedisProcess, name: String, directory: String) async throws {
        port = try freePort()
        let file = directory + "/sentinel-\(port).conf"
        try RedisSentinelConfiguration.text(port: port, masterPort: master.port, name: name, directory: directory)
            .write(toFile: file, atomically: true, encoding: .utf8)
        arguments = [file, "--sentinel"]
        sentinelLog = RedisSentinelConfiguration.logFile(port: port, directory: directory)
        try await start()
    }

    /// For a sentinel: whether the failover of `name` asked for is done (`+switch-master` in its
    /// log); throws if it gave it up.
    func switchedTheMaster(named name: String) throws -> Bool {
        guard let sentinelLog else { throw RedisProcessError.notASentinel }
        return try RedisSentinelConfiguration.switchedTheMaster(named: name, logFile: sentinelLog)
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// Starts the server (again) and waits until it answers PING.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = arguments
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        process.standardOutput = FileHandle.nullDevice
        // Not the test process's: a server outliving a crashed test run would hold its stderr
        // open, and `swift test` would wait for it forever instead of reporting the crash.
        process.standardError = FileHandle.nullDevice
        try process.runWatched()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(30)
        // Asked once more after the deadline, for a task that was not run for a while.
        while true {
            if (try? cli("PING")) == "PONG" { return }
            guard ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw RedisProcessError.notAnswering
    }

    /// SIGKILL, as a crash would; returns once the process is gone.
    func kill() {
        guard let process, process.isAlive else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.endedBlocking()
        self.process = nil
    }

    @discardableResult
    func cli(_ arguments: String...) throws -> String {
        let cli = Process()
        cli.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        cli.arguments = ["-p", "\(port)"] + arguments
        let output = Pipe()
        cli.standardOutput = output
        cli.standardError = FileHandle.nullDevice
        try cli.run()
        // Reading to EOF waits for the exit, without asking Foundation whether the child ended.
        let data = output.fileHandleForReading.readDataToEndOfFile()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

enum RedisProcessError: Error {
    case notAnswering
    case notASentinel
}

/// A loopback port nobody listens on right now: bind port 0, read what the kernel picked, close.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
