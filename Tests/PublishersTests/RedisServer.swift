import Foundation
import TestSupport
import Testing

@testable import Publishers

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway `redis-server` on a free loopback port, started and stopped by a test.
final class RedisServer {

    /// Why a test server could not be provided.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static let executable = "/usr/bin/redis-server"

    let port: Int
    /// Given to redis-server after the test defaults (`--replicaof HOST PORT`).
    private let extraArguments: [String]
    /// Its working directory, of its own: a replica writes the copy it syncs there (dump.rdb).
    private let directory = NSTemporaryDirectory() + "brokerd-redis-\(UUID().uuidString)"
    private var process: Process?

    var url: RedisURL { RedisURL(host: "127.0.0.1", port: port) }

    /// Starts a server on a free port and waits until it answers PING. Fails (never skips) when
    /// redis-server is not installed, because then the Redis source is simply untested.
    init(arguments: [String] = []) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw Failure(description: "\(Self.executable) is missing: install it with scripts/setup --tests (apt package redis-server)")
        }
        port = try Self.freePort()
        extraArguments = arguments
        try await start()
    }

    /// A replica of this server, on a port of its own.
    func replica() async throws -> RedisServer {
        try await RedisServer(arguments: ["--replicaof", "127.0.0.1", String(port)])
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts the server (again) on the same port.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        process.arguments = ["--port", String(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--dir", directory] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.runWatched()
        self.process = process
        try await waitUntilAnswering()
    }

    /// SIGKILLs the server, as a crash would, and waits for it to be gone.
    func kill() {
        guard let process, process.isAlive else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.endedBlocking()
        self.process = nil
    }

    /// SIGSTOPs the server: it keeps its connections and takes new ones (the kernel completes them)
    /// but answers nothing until `thaw()`, as a Redis stuck in a slow command.
    func freeze() {
        guard let process, process.isAlive else { return }
        Glibc.kill(process.processIdentifier, SIGSTOP)
    }

    /// SIGCONTs a server `freeze()` stopped.
    func thaw() {
        guard let process, process.isAlive else { return }
        Glibc.kill(process.processIdentifier, SIGCONT)
    }

    /// A command connection to this server.
    func commander() throws -> RedisCommander { try RedisCommander(url: url) }

    private func waitUntilAnswering() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        // Asked once more after the deadline: on a loaded machine this task may not have run for a while.
        while true {
            if let commander = try? commander(), (try? commander.ping()) == true { return }
            if process?.isAlive != true {
                throw Failure(description: "redis-server exited at start (port \(port) taken?)")
            }
            guard ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw Failure(description: "redis-server on port \(port) did not answer PING within 30 s")
    }

    /// A port nobody listens on right now: bind port 0, read what the kernel picked, close.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                guard bind(fd, raw, length) == 0 else { return false }
                return getsockname(fd, raw, &length) == 0
            }
        }
        guard bound else { throw Failure(description: "binding a probe socket failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
