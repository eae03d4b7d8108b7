import NIOCore
import NIOHTTP1
import NIOPosix

/// One keep-alive HTTP/1.1 connection to the broker, used by one task for one request at a time.
struct HTTPConnection {
    private var responses: NIOAsyncChannelInboundStream<HTTPClientResponsePart>.AsyncIterator
    private let requests: NIOAsyncChannelOutboundWriter<HTTPClientRequestPart>
    private let host: String
    private let adminToken: String?

    /// Connects to `host:port`, runs `body` with the connection, then closes it.
    static func withConnection<Result: Sendable>(
        host: String,
        port: Int,
        adminToken: String?,
        eventLoopGroup: any EventLoopGroup,
        _ body: (inout HTTPConnection) async throws -> Result
    ) async throws -> Result {
        let channel = try await ClientBootstrap(group: eventLoopGroup)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(5))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            var connection = HTTPConnection(
                responses: inbound.makeAsyncIterator(), requests: outbound, host: "\(host):\(port)",
                adminToken: adminToken)
            return try await body(&connection)
        }
    }

    /// Sends one request and reads its whole response.
    mutating func send(_ method: HTTPMethod, _ path: String, json body: String? = nil) async throws -> HTTPResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Connection", value: "keep-alive")
        if let adminToken { headers.add(name: "Authorization", value: "Bearer \(adminToken)") }
        let payload = body.map { ByteBuffer(string: $0) }
        if let payload {
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(payload.readableBytes))
        } else if method == .POST || method == .PUT {
            headers.add(name: "Content-Length", value: "0")
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        if let payload {
            try await requests.write(contentsOf: [.head(head), .body(.byteBuffer(payload)), .end(nil)])
        } else {
            try await requests.write(contentsOf: [.head(head), .end(nil)])
        }

        var status: Int?
        var received = ByteBuffer()
        while let part = try await responses.next() {
            switch part {
            case .head(let responseHead):
                status = Int(responseHead.status.code)
            case .body(var chunk):
                received.writeBuffer(&chunk)
            case .end:
                guard let status else { break }
                return HTTPResponse(status: status, body: String(buffer: received))
            }
        }
        throw HTTPConnectionError.closedBeforeResponse(method: method.rawValue, path: path)
    }

    /// Sends one request and throws unless the broker answers 2xx.
    @discardableResult
    mutating func expectSuccess(_ method: HTTPMethod, _ path: String, json body: String? = nil) async throws
        -> HTTPResponse
    {
        let response = try await send(method, path, json: body)
        guard response.isSuccess else {
            throw HTTPConnectionError.unexpectedStatus(method: method.rawValue, path: path, response: response)
        }
        return response
    }
}
