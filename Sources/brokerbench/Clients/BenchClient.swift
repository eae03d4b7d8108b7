import Glibc

/// What every benchmark client does: connect to `target`, upgrade, subscribe to the strategy once,
/// ping to stay clear of the heartbeat timeout, and tally every price entry it receives.
///
/// The clients are plain non-blocking sockets driven by `ClientLoop` threads with epoll: no NIO
/// pipeline, no task per client. The tool shares the 2 cores with the broker it measures, so its
/// own cost per message is part of every latency it reports; NIO channel handlers cost it ~0.7
/// cores at 1,000 clients and 60,000 messages/s, most of it in user space.
struct BenchClient: Sendable {
    let target: BenchTarget
    let strategy: BenchStrategy
    let sendTimes: SendTimeTable
    /// Largest frame payload a client accepts; a larger one ends the client.
    let maximumFrameSize: Int
    let pingInterval: Duration
    /// Whether the clients offer permessage-deflate (and inflate what comes compressed), as
    /// browsers do.
    var compression = false

    /// The upgrade request every client sends.
    var upgradeRequest: [UInt8] {
        Array(
            ("GET \(target.path) HTTP/1.1\r\nHost: \(target.host):\(target.port)\r\nUpgrade: websocket\r\n"
                + "Connection: Upgrade\r\nSec-WebSocket-Key: YnJva2VyYmVuY2gtY2xpZW50\r\nSec-WebSocket-Version: 13\r\n"
                + (compression ? "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" : "") + "\r\n").utf8)
    }
}

/// Host, port and path of a `ws://` URL, and the socket address it resolves to.
struct BenchTarget: Sendable {
    let host: String
    let port: Int
    let path: String

    init?(url: String) {
        guard url.hasPrefix("ws://") else { return nil }
        let rest = url.dropFirst("ws://".count)
        let authority = rest.prefix { $0 != "/" }
        path = rest.count > authority.count ? String(rest.dropFirst(authority.count)) : "/"
        if let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) {
            host = String(authority[..<colon])
            self.port = port
        } else {
            host = String(authority)
            port = 80
        }
    }

    /// The first TCP address of `host:port`.
    func resolve() throws -> SocketAddress {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw BenchTargetError(host: host, port: port, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        return SocketAddress(first.pointee)
    }
}

struct BenchTargetError: Error, CustomStringConvertible {
    let host: String
    let port: Int
    let reason: String
    var description: String { "cannot resolve \(host):\(port): \(reason)" }
}

/// A resolved socket address, copied out of `getaddrinfo`'s list.
struct SocketAddress: Sendable {
    private var storage = sockaddr_storage()
    let family: Int32
    let length: socklen_t

    init(_ info: addrinfo) {
        family = info.ai_family
        length = info.ai_addrlen
        withUnsafeMutableBytes(of: &storage) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: info.ai_addr, count: Int(info.ai_addrlen)))
        }
    }

    /// Starts a non-blocking connect of `fd`: 0 when it completed or is in progress, else the errno.
    func connect(_ fd: Int32) -> Int32 {
        var address = storage
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, length) }
        }
        if result == 0 { return 0 }
        let code = errno
        return code == EINPROGRESS ? 0 : code
    }
}
