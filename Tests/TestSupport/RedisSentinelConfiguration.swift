import Foundation

/// The configuration of a throwaway Redis Sentinel for tests: it monitors one master on loopback
/// under `name` with a quorum of one, so a test can ask it for a failover (`SENTINEL FAILOVER
/// name`) and see it done within seconds. It never fails over on its own within a test: a master
/// is down for it only after 60 s without an answer (a loaded CI machine is slow, not down).
public enum RedisSentinelConfiguration {
    /// The file's text; the sentinel rewrites its file as it learns, so write it in `directory`,
    /// a writable directory of the test's own. It logs to `logFile(port:directory:)`.
    ///
    /// A failover asked for is given a minute: the sentinel gives it up when the replica it
    /// promoted has not said it is the master within `failover-timeout`, and on a CI machine
    /// running the whole suite 5 s was once not enough.
    ///
    /// `configEpoch` starts it with the configuration of that epoch, as if a failover of it had
    /// happened (`sentinel config-epoch`): the sentinels of a split, each naming its master.
    public static func text(port: Int, masterPort: Int, name: String, directory: String, configEpoch: Int = 0) -> String {
        """
        port \(port)
        bind 127.0.0.1
        dir \(directory)
        logfile \(logFile(port: port, directory: directory))
        sentinel monitor \(name) 127.0.0.1 \(masterPort) 1
        sentinel down-after-milliseconds \(name) 60000
        sentinel failover-timeout \(name) 60000
        sentinel config-epoch \(name) \(configEpoch)

        """
    }

    /// Where the sentinel on `port` configured with `directory` logs.
    public static func logFile(port: Int, directory: String) -> String { directory + "/sentinel-\(port).log" }

    /// Whether the sentinel logging to `logFile` has finished a failover of `name`: it announced
    /// the new master (`+switch-master`). Throws, with its account of the failover, if it gave it up.
    public static func switchedTheMaster(named name: String, logFile: String) throws -> Bool {
        let text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
        // Its events: "<pid>:X <date> # +switch-master brokermaster 127.0.0.1 1 127.0.0.1 2".
        let events = text.split(separator: "\n").filter { $0.contains(" # +") || $0.contains(" # -") || $0.contains(" * +") }
        if events.contains(where: { $0.contains("-failover-abort") }) {
            throw FailoverGivenUp(description: "the sentinel gave the failover up:\n" + events.joined(separator: "\n"))
        }
        return events.contains { $0.contains("+switch-master \(name) ") }
    }

    /// A failover the sentinel gave up, with its log's account of it.
    public struct FailoverGivenUp: Error, CustomStringConvertible {
        public var description: String
    }
}
