import Foundation
import TestSupport

@testable import Publishers

#if canImport(Glibc)
import Glibc
#endif

/// A throwaway Redis Sentinel (`redis-server sentinel.conf --sentinel`) on a free loopback port,
/// monitoring one master under `name` with a quorum of one, so a test can ask it for a failover.
final class RedisSentinel {
    let port: Int
    let name: String
    private let directory: String
    private let process: Process

    var url: RedisURL { RedisURL(host: "127.0.0.1", port: port) }

    /// `configEpoch`: its configuration's epoch at start (`RedisSentinelConfiguration`).
    init(monitoring master: RedisServer, name: String = "brokermaster", configEpoch: Int = 0) async throws {
        port = try RedisServer.freePort()
        self.name = name
        directory = NSTemporaryDirectory() + "brokerd-sentinel-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = directory + "/sentinel.conf"
        try RedisSentinelConfiguration.text(port: port, masterPort: master.port, name: name, directory: directory, configEpoch: configEpoch)
            .write(toFile: config, atomically: true, encoding: .utf8)
        process = Process()
        process.executableURL = URL(fileURLWithPath: RedisServer.executable)
        process.arguments = [config, "--sentinel"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.runWatched()
        let deadline = ContinuousClock.now + .seconds(30)
        while (try? commander().ping()) != true {
            guard process.isAlive, ContinuousClock.now < deadline else {
                throw RedisServer.Failure(description: "redis sentinel on port \(port) did not answer PING")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    deinit {
        if process.isAlive {
            kill(process.processIdentifier, SIGKILL)
            process.endedBlocking()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    func commander() throws -> RedisCommander { try RedisCommander(url: url) }

    /// Whether the sentinel knows a replica of the master that a failover can promote.
    func knowsAHealthyReplica() throws -> Bool {
        guard case .array(let replicas) = try commander().command("SENTINEL", "REPLICAS", name) else { return false }
        return replicas.contains { replica in
            guard case .array(let fields) = replica else { return false }
            let pairs = stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0].text, fields[$0 + 1].text) }
            let info = Dictionary(pairs.compactMap { key, value in key.flatMap { k in value.map { (k, $0) } } }) { $1 }
            return info["flags"] == "slave" && info["master-link-status"] == "ok"
        }
    }

    /// How many of its clients subscribe to something (a sentinel takes no `PUBSUB`).
    func subscribers() throws -> Int {
        let clients = try commander().command("CLIENT", "LIST").text ?? ""
        return clients.split(separator: "\n").filter { $0.contains(" sub=1 ") }.count
    }

    /// Promotes a replica of the master now (`SENTINEL FAILOVER`).
    func failover() throws {
        let reply = try commander().command("SENTINEL", "FAILOVER", name)
        guard reply == .status("OK") else { throw RedisServer.Failure(description: "SENTINEL FAILOVER answered \(reply)") }
    }

    /// Whether the failover asked for is done (`+switch-master` in the sentinel's log); throws if
    /// the sentinel gave it up.
    func switchedTheMaster() throws -> Bool {
        try RedisSentinelConfiguration.switchedTheMaster(
            named: name, logFile: RedisSentinelConfiguration.logFile(port: port, directory: directory))
    }
}
