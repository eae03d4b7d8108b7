import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What systemd's end of `NOTIFY_SOCKET` is for a test: a datagram socket at a path, keeping every
/// message a broker sends it, each as its `KEY=VALUE` fields.
final class NotifySocket: Sendable {
    let path: String
    private let descriptor: Int32
    private let received = Mutex<[[String: String]]>([])
    private let stopped = Atomic<Bool>(false)

    init(path: String) throws {
        self.path = path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard descriptor >= 0 else { throw RawSocketFailure(description: "socket() failed: errno \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw RawSocketFailure(description: "path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw RawSocketFailure(description: "bind(\(path)) failed: errno \(errno)") }
        // Reads wake every 100 ms to see whether the test is done.
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        Thread { [self] in readUntilStopped() }.start()
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// Every message so far, in the order they came.
    var messages: [[String: String]] { received.withLock { $0 } }

    /// Stops reading; the socket closes when the last reference goes.
    func stop() { stopped.store(true, ordering: .relaxed) }

    /// The first message at or after `index` that `matches`, waiting up to `timeout` for it; with its index.
    func first(from index: Int = 0, timeout: Duration = .seconds(10), where matches: ([String: String]) -> Bool) async -> (index: Int, fields: [String: String])? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let all = messages
            if index < all.count, let found = all[index...].firstIndex(where: matches) { return (found, all[found]) }
            guard ContinuousClock.now < deadline else { return nil }
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    private func readUntilStopped() {
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while !stopped.load(ordering: .relaxed) {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { continue }
            var fields: [String: String] = [:]
            for line in String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                fields[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            received.withLock { $0.append(fields) }
        }
    }
}
