/// Why a spawned broker could not be started or did not become ready.
enum BrokerLaunchError: Error, CustomStringConvertible {
    case noFreePort(errno: Int32)
    case spawnFailed(path: String, errno: Int32)
    case exitedEarly(status: String, log: String)
    case notReady(seconds: Double, log: String)
    case notListening(seconds: Int64)
    case noBroker(host: String, port: Int, underlying: String)

    var description: String {
        switch self {
        case .noFreePort(let errno):
            "could not find a free port (errno \(errno))"
        case .spawnFailed(let path, let errno):
            "could not start \(path) (errno \(errno))"
        case .exitedEarly(let status, let log):
            "the broker exited before it was ready (\(status)); its log ends:\n\(log)"
        case .notReady(let seconds, let log):
            "GET /readyz did not answer 200 within \(Int(seconds)) s; the broker's log ends:\n\(log)"
        case .notListening(let seconds):
            "the broker did not log that it listens within \(seconds) s; killed"
        case .noBroker(let host, let port, let underlying):
            "no broker answers at \(host):\(port): \(underlying)"
        }
    }
}
