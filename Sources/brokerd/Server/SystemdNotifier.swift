import Glibc
import Logging
import Synchronization

/// Tells systemd how the broker is doing, when it runs as a `Type=notify` unit: sd_notify's
/// protocol, one datagram of `KEY=VALUE` lines to the socket `$NOTIFY_SOCKET` names. Ready only
/// once the journal is replayed and the server listens; reloading, stopping, a longer stop while
/// it drains, a status line for `systemctl status`, and the watchdog's pings.
final class SystemdNotifier: Sendable {
    /// Where the datagrams go (`NOTIFY_SOCKET`: a path, or `@name` in the abstract namespace).
    let socketName: String
    /// How often systemd wants a `WATCHDOG=1` at least (`WATCHDOG_USEC`), when its watchdog is on
    /// for this process.
    let watchdogTimeout: Duration?
    // Written once, by init; sendto(2) on a datagram socket needs no lock between threads.
    private let descriptor: Int32
    private let address: [UInt8]
    private let logger: Logger
    private let readiness = Mutex(SystemdReadiness())
    private let failedSends = Atomic<Int>(0)

    /// The notifier systemd asked for in `environment`; nil when it asked for none (not started by
    /// systemd, or `Type=` other than notify). A `NOTIFY_SOCKET` that cannot be used is logged.
    static func fromEnvironment(_ environment: [String: String], pid: Int32 = getpid(), logger: Logger) -> SystemdNotifier? {
        guard let name = environment["NOTIFY_SOCKET"], !name.isEmpty else { return nil }
        guard let address = Self.socketAddress(name) else {
            logger.warning("NOTIFY_SOCKET is not a socket path or @name: systemd is not told how the broker is doing", metadata: ["NOTIFY_SOCKET": "\(name)"])
            return nil
        }
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard descriptor >= 0 else {
            logger.warning("cannot open a socket to tell systemd how the broker is doing", metadata: ["error": "\(String(cString: strerror(errno)))"])
            return nil
        }
        return SystemdNotifier(
            socketName: name, descriptor: descriptor, address: address,
            watchdogTimeout: Self.watchdogTimeout(environment, pid: pid), logger: logger)
    }

    private init(socketName: String, descriptor: Int32, address: [UInt8], watchdogTimeout: Duration?, logger: Logger) {
        self.socketName = socketName
        self.descriptor = descriptor
        self.address = address
        self.watchdogTimeout = watchdogTimeout
        self.logger = logger
    }

    deinit { close(descriptor) }

    /// The bytes of `sockaddr_un.sun_path` for `name` (`@` stands for the abstract namespace's
    /// leading zero byte); nil for a name that is neither absolute nor abstract, or too long.
    static func socketAddress(_ name: String) -> [UInt8]? {
        var bytes = Array(name.utf8)
        switch bytes.first {
        case UInt8(ascii: "/"): bytes.append(0)
        case UInt8(ascii: "@"): bytes[0] = 0
        default: return nil
        }
        guard bytes.count > 1, bytes.count <= MemoryLayout.size(ofValue: sockaddr_un().sun_path) else { return nil }
        return bytes
    }

    /// The watchdog's timeout systemd set for this process: `WATCHDOG_USEC`, unless `WATCHDOG_PID`
    /// names another process (a child that inherited the environment must not ping for its parent).
    static func watchdogTimeout(_ environment: [String: String], pid: Int32) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], Int32(owner) != pid { return nil }
        return .microseconds(microseconds)
    }

    /// The server listens on `port`: ready if the journal is replayed too.
    func listening(host: String, port: Int) {
        if let message = readiness.withLock({ $0.listening(on: "\(host):\(port)") }) { send(message) }
    }

    /// The journal is replayed through `seq`: ready if the server listens too.
    func replayed(through seq: UInt64) {
        if let message = readiness.withLock({ $0.replayed(through: seq) }) { send(message) }
    }

    /// Whether READY=1 was said: the journal is replayed and the server listens.
    var isReady: Bool { readiness.withLock { $0.isAnnounced } }

    /// A reload begins (what `Type=notify-reload` waits for after its SIGHUP). Not said before
    /// the broker is ready: its READY=1 would come too early.
    func reloading() {
        guard isReady else { return }
        send(SystemdMessage.reloading(monotonicMicroseconds: Self.monotonicMicroseconds()))
    }

    /// A reload ended, `status` saying how.
    func reloaded(_ status: String) {
        guard isReady else { return }
        send(SystemdMessage([("READY", "1"), ("STATUS", status)]))
    }

    /// The broker stops: draining first for `drain` (zero: at once). systemd's stop timeout
    /// (`TimeoutStopSec=`) is then counted on from the end of the drain, so a long drain is not
    /// killed halfway.
    func stopping(drain: Duration, clients: Int) {
        var fields = [("STOPPING", "1")]
        if drain > .zero {
            fields.append(("STATUS", "draining: closing \(clients) clients over \(drain.components.seconds) s"))
            fields.append(("EXTEND_TIMEOUT_USEC", "\(Self.microseconds(drain + Self.stopAfterDrain))"))
        } else {
            fields.append(("STATUS", "stopping: closing \(clients) clients"))
        }
        send(SystemdMessage(fields))
    }

    /// What a stop takes after its drain, at most: the clients' disconnects (5 s), the publishers
    /// and Redis (2 + 5 s), the final snapshot. As the shipped unit's `TimeoutStopSec`.
    static let stopAfterDrain: Duration = .seconds(30)

    /// The line `systemctl status` shows.
    func status(_ text: String) {
        send(SystemdMessage([("STATUS", text)]))
    }

    /// Tells the watchdog the broker is alive.
    func watchdogPing() {
        send(SystemdMessage([("WATCHDOG", "1")]))
    }

    private func send(_ message: SystemdMessage) {
        let bytes = Array(message.text.utf8)
        let sent = address.withUnsafeBytes { path in
            var socketAddress = sockaddr_un()
            socketAddress.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &socketAddress.sun_path) { $0.copyMemory(from: path) }
            let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + path.count)
            return withUnsafePointer(to: &socketAddress) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                    bytes.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), address, length) }
                }
            }
        }
        guard sent < 0 else { return }
        let error = errno
        // systemd gone, or not reading: say so once in a while, never more than the first and every 100th.
        let failures = failedSends.wrappingAdd(1, ordering: .relaxed).newValue
        if failures == 1 || failures % 100 == 0 {
            logger.warning(
                "could not tell systemd how the broker is doing",
                metadata: ["NOTIFY_SOCKET": "\(socketName)", "error": "\(String(cString: strerror(error)))", "failed": .stringConvertible(failures)])
        }
    }

    private static func monotonicMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }

    private static func microseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
    }
}

/// One sd_notify datagram: `KEY=VALUE` lines.
struct SystemdMessage {
    let fields: [(key: String, value: String)]

    init(_ fields: [(String, String)]) {
        // A value is one line: a newline in a status would start a field of its own.
        self.fields = fields.map { (key: $0.0, value: $0.1.replacing("\n", with: " ")) }
    }

    static func reloading(monotonicMicroseconds: Int64) -> SystemdMessage {
        SystemdMessage([("RELOADING", "1"), ("MONOTONIC_USEC", "\(monotonicMicroseconds)"), ("STATUS", "reloading the configuration")])
    }

    var text: String { fields.map { "\($0.key)=\($0.value)\n" }.joined() }

}

/// When the broker is ready for systemd: once the journal is replayed and the server listens,
/// in whichever order the two come; said once.
struct SystemdReadiness {
    private var address: String?
    private var seq: UInt64?
    private var announced = false

    /// Whether READY=1 was said.
    var isAnnounced: Bool { announced }

    /// The server listens on `address`; the message to send if that makes the broker ready.
    mutating func listening(on address: String) -> SystemdMessage? {
        self.address = address
        return announceIfReady()
    }

    /// The journal is replayed through `seq`; the message to send if that makes the broker ready.
    mutating func replayed(through seq: UInt64) -> SystemdMessage? {
        self.seq = seq
        return announceIfReady()
    }

    private mutating func announceIfReady() -> SystemdMessage? {
        guard !announced, let address, let seq else { return nil }
        announced = true
        return SystemdMessage([("READY", "1"), ("STATUS", "ready: journal replayed through seq \(seq), listening on \(address)")])
    }
}
