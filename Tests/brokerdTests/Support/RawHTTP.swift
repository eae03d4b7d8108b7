import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One HTTP/1.1 request on a raw loopback socket, with the path sent byte for byte.
///
/// URLSession normalizes `..` segments away before sending, so path-traversal attempts need this.
enum RawHTTP {
    struct Response {
        let status: Int
        /// Header names lowercased.
        let headers: [String: String]
        let body: String
    }

    typealias Failure = RawSocketFailure

    static func get(port: Int, path: String) throws -> Response {
        try send("GET", port: port, path: path)
    }

    /// `method` `path` with `body` (as JSON, when there is one), from the loopback address `from`.
    static func send(_ method: String, port: Int, path: String, body: String? = nil, from local: String? = nil) throws -> Response {
        let content = body.map { "Content-Type: application/json\r\nContent-Length: \($0.utf8.count)\r\n\r\n\($0)" } ?? "\r\n"
        return try exchange(port: port, request: "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\(content)", from: local)
    }

    /// Sends `request` as it is and reads until the server closes the connection (at most 10 s).
    static func exchange(port: Int, request text: String, from local: String? = nil) throws -> Response {
        try exchange(port: port, parts: [text], pause: .zero, from: local)
    }

    /// Sends `parts` with `pause` between them and reads until the server closes the connection.
    static func exchange(port: Int, parts: [String], pause: Duration, from local: String? = nil) throws -> Response {
        let fd = try LoopbackSocket.connect(port: port, readTimeout: 10, from: local)
        defer { close(fd) }
        for (index, part) in parts.enumerated() {
            if index > 0 { Thread.sleep(forTimeInterval: Double(pause.components.attoseconds) / 1e18 + Double(pause.components.seconds)) }
            let request = Array(part.utf8)
            guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else {
                throw Failure(description: "write() failed: errno \(errno)")
            }
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            // A reset after the answer ends it too: a server that closes with bytes of the client's
            // still unread (a refused body) resets the connection.
            if count < 0, errno == ECONNRESET, !received.isEmpty { break }
            guard count >= 0 else { throw Failure(description: "read() failed or timed out: errno \(errno)") }
            if count == 0 { break }
            received += buffer[0..<count]
        }
        let text = String(decoding: received, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw Failure(description: "no response head: \(text)") }
        let lines = text[..<split.lowerBound].components(separatedBy: "\r\n")
        guard let statusLine = lines.first, let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "") else {
            throw Failure(description: "bad status line: \(lines.first ?? "")")
        }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(status: status, headers: headers, body: String(text[split.upperBound...]))
    }
}
