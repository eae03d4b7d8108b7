/// The configuration of a throwaway Redis Sentinel for tests: it monitors one master on loopback
/// under `name` with a quorum of one, so a test can ask it for a failover (`SENTINEL FAILOVER
/// name`) and see it done within seconds. It never fails over on its own within a test: a master
/// is down for it only after 60 s without an answer (a loaded CI machine is slow, not down).
public enum RedisSentinelConfiguration {
    /// The file's text; the sentinel rewrites its file as it learns, so write it in `directory`,
    /// a writable directory of the test's own.
    public static func text(port: Int, masterPort: Int, name: String, directory: String) -> String {
        """
        port \(port)
        bind 127.0.0.1
        dir \(directory)
        sentinel monitor \(name) 127.0.0.1 \(masterPort) 1
        sentinel down-after-milliseconds \(name) 60000
        sentinel failover-timeout \(name) 5000

        """
    }
}
