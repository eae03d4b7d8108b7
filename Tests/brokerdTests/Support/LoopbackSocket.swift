import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A failure of a raw-socket test client, with what went wrong.
struct RawSocketFailure: Error, CustomStringConvertible {
    let description: String
}

/// Raw TCP sockets to the broker on 127.0.0.1, for tests that must send bytes exactly as written.
enum LoopbackSocket {
    /// A connected socket to `port`. `receiveBuffer` shrinks the kernel's receive buffer (set before
    /// connecting, so the window is small from the start); `readTimeout` bounds every read, so a
    /// broker that never answers fails the test instead of hanging it; `from` binds the socket to
    /// another loopback address (127.0.0.2: a client outside an allow list). The caller closes it.
    static func connect(port: Int, receiveBuffer: Int32? = nil, readTimeout: Int? = nil, from local: String? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawSocketFailure(description: "socket() failed: errno \(errno)") }
        if let local {
            var source = sockaddr_in()
            source.sin_family = sa_family_t(AF_INET)
            source.sin_addr.s_addr = inet_addr(local)
            let bound = withUnsafePointer(to: &source) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                let code = errno
                close(fd)
                throw RawSocketFailure(description: "bind(\(local)) failed: errno \(code)")
            }
        }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        if let readTimeout {
            var timeout = timeval(tv_sec: readTimeout, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw RawSocketFailure(description: "connect() failed: errno \(code)")
        }
        return fd
    }

    /// A socket listening on a free port of 127.0.0.1. The caller closes it.
    static func listen() throws -> (fd: Int32, port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawSocketFailure(description: "socket() failed: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { address in
                bind(fd, address, length) == 0 && Glibc.listen(fd, 16) == 0 && getsockname(fd, address, &length) == 0
            }
        }
        guard listening else {
            let code = errno
            close(fd)
            throw RawSocketFailure(description: "cannot listen on 127.0.0.1: errno \(code)")
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}

/// A TCP port on 127.0.0.1 that takes connections and never answers: the kernel completes each
/// handshake into the backlog, and nothing ever reads or writes (a frozen server, a proxy whose
/// backend is gone). Closed when released.
final class SilentListener {
    let port: Int
    private let fd: Int32

    init() throws {
        (fd, port) = try LoopbackSocket.listen()
    }

    deinit { close(fd) }
}
