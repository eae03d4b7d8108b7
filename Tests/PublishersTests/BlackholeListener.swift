import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A loopback port that accepts TCP connections (the kernel completes them from the backlog) but
/// never reads or answers: a Redis that hangs.
final class BlackholeListener {
    let port: Int
    private let descriptor: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RedisServer.Failure(description: "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(fd, raw, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, raw, &length) == 0
            }
        }
        guard listening else {
            close(fd)
            throw RedisServer.Failure(description: "listening on a probe socket failed: errno \(errno)")
        }
        descriptor = fd
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    /// The connections taken from the backlog so far, held open and never read.
    private var taken: [Int32] = []

    deinit {
        taken.forEach { close($0) }
        close(descriptor)
    }

    /// How many connections came in so far: takes those waiting in the backlog (without
    /// waiting for more), holds them open, and counts every one taken since the start.
    func connectionsSoFar() -> Int {
        let flags = fcntl(descriptor, F_GETFL)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        while case let fd = accept(descriptor, nil, nil), fd >= 0 { taken.append(fd) }
        return taken.count
    }
}
