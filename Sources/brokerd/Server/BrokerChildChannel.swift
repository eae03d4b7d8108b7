import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import ServiceLifecycle

/// The server's connections: HTTP/1 for the API, upgraded to a WebSocket session on the endpoint.
///
/// Modelled on HummingbirdWebSocket's `HTTP1WebSocketUpgradeChannel`, except for what an upgrade
/// becomes: a `WebSocketSession` handler in the channel's pipeline instead of an async channel
/// served by a task for the connection's whole life. So `handle(value:)`, which the server runs as
/// one task per connection, returns as soon as the upgrade is done, and the channel stays open,
/// owned by its pipeline.
struct BrokerChildChannel: ServerChildChannel, HTTPChannelHandler {
    /// What the connection became once its first request was read.
    enum UpgradeResult: Sendable {
        /// A WebSocket session, running in the pipeline.
        case webSocket
        /// Plain HTTP.
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// A WebSocket upgrade that was refused, and why (nil: the upgrade request was malformed).
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, APIError?)
    }

    struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        let channel: any Channel
        /// Whether `upgradeResult` completed: the first request was read (or reading it failed).
        let firstRequestDecided: NIOLoopBoundBox<Bool>
    }

    let responder: HTTPChannelHandler.Responder
    let endpoint: WebSocketEndpoint
    /// Hummingbird's HTTP/1 defaults (its parser's limits, its extra handlers); the idle timeout is
    /// each connection's own (`idleTimeout`).
    let http1 = HTTP1Channel.Configuration()

    init(responder: @escaping HTTPChannelHandler.Responder, endpoint: WebSocketEndpoint) {
        self.responder = Self.redirectingUpgrades(responder)
        self.endpoint = endpoint
    }

    /// An HTTP connection silent between requests as long as a WebSocket client may be is closed
    /// too: a kept-alive connection held a descriptor for good. nginx closes its idle upstream
    /// connections after 60 s, before the default 90. Read for each connection, so a reloaded
    /// `heartbeat_timeout` applies from the next one.
    private var idleTimeout: Duration { endpoint.runtime.heartbeatTimeout }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // Set when the endpoint saw the upgrade request: `.some(nil)` when it accepted it.
            let verdict = NIOLoopBoundBox<APIError??>(nil, eventLoop: channel.eventLoop)
            let endpoint = endpoint
            let closer = ClosingOnUnparsableRequests()
            let nioUpgrader = NIOTypedWebSocketServerUpgrader<UpgradeResult>(
                maxFrameSize: endpoint.maxFrameSize,
                shouldUpgrade: { channel, head in
                    channel.eventLoop.makeCompletedFuture {
                        let request = try Self.request(head)
                        let refusal = endpoint.admission(of: request, on: channel)
                        verdict.value = .some(refusal)
                        guard refusal == nil else { return nil }
                        var headers = HTTPHeaders()
                        if endpoint.compression(for: request) {
                            headers.add(name: "Sec-WebSocket-Extensions", value: PerMessageDeflate.response)
                        }
                        return headers
                    }
                },
                upgradePipelineHandler: { channel, head in
                    channel.eventLoop.makeCompletedFuture {
                        // No HTTP is parsed from here on (and an idle connection keeps ~130 bytes less).
                        channel.pipeline.syncOperations.removeHandler(closer, promise: nil)
                        try endpoint.install(on: channel, upgrade: try Self.request(head))
                        return .webSocket
                    }
                }
            )
            let upgrader = HandshakeCheckingUpgrader(upgrader: nioUpgrader) { refusal in verdict.value = .some(refusal) }
            let http1 = http1
            let idleTimeout = idleTimeout
            let serverUpgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(ConnectionCloseMarker())
                        try pipeline.addHandler(UnreadBodyCloser())
                        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try pipeline.addHandlers(http1.additionalChannelHandlers())
                        try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: idleTimeout, logger: logger))
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        switch verdict.value {
                        case .some(let refusal): return .refused(asyncChannel, refusal)
                        case .none: return .notUpgraded(asyncChannel)
                        }
                    }
                }
            )
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: serverUpgradeConfiguration)
            configuration.enablePipelining = false  // HTTP is pipelined by NIOAsyncChannel
            // A request NIO cannot parse (no request line, a header without a colon, a request
            // line past the limits) is answered 400 and closed: Hummingbird's handlers, which
            // would answer it, come only after the first request was read.
            configuration.enableErrorHandling = true
            configuration.enableResponseHeaderValidation = false  // Swift HTTP Types validate already
            configuration.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            configuration.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            configuration.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            try channel.pipeline.syncOperations.addHandler(closer)
            // A connection that sends no complete first request holds a connection task (and a
            // shutdown) until it goes: it gets `firstRequestTimeout`.
            let deadline = channel.eventLoop.scheduleTask(in: Self.firstRequestTimeout) { channel.close(promise: nil) }
            let decided = NIOLoopBoundBox(false, eventLoop: channel.eventLoop)
            result.whenComplete { _ in
                decided.value = true
                deadline.cancel()
            }
            return Value(upgradeResult: result, channel: channel, firstRequestDecided: decided)
        }
    }

    /// How long a new connection may take to send its first request (a WebSocket upgrade or an
    /// API call); then it is closed. nginx's `client_header_timeout` is 60 s.
    static let firstRequestTimeout = TimeAmount.seconds(30)

    func handle(value: Value, logger: Logger) async {
        do {
            // A shutdown closes a connection still waiting for its first request: nothing of it
            // was read, and its task would hold the shutdown until the client gave up.
            let upgradeResult = try await withGracefulShutdownHandler {
                try await value.upgradeResult.get()
            } onGracefulShutdown: {
                let channel = value.channel
                let decided = value.firstRequestDecided
                channel.eventLoop.execute {
                    if !decided.value { channel.close(promise: nil) }
                }
            }
            switch upgradeResult {
            case .webSocket:
                // The session runs in the pipeline from here; this task is done.
                break
            case .notUpgraded(let http1):
                await handleHTTP(asyncChannel: http1, logger: logger)
            case .refused(let http1, let refusal):
                await refuse(http1, refusal ?? .badRequest("invalid_upgrade", "not a valid WebSocket upgrade request"), logger: logger)
            }
        } catch let error as ChannelError where error == .inputClosed {
            logger.trace("upgrade failed as input was closed")
        } catch {
            // Unparsable requests were answered 400 (NIO's error handler) and are closing.
            logger.debug("connection ended before its first request was served", metadata: ["error.type": .string("\(error)")])
            value.channel.close(promise: nil)
        }
    }

    /// Answers a refused upgrade with its JSON error and closes the connection.
    private func refuse(_ http1: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, _ refusal: APIError, logger: Logger) async {
        LabeledCounters.refusedUpgrades.increment(refusal.error)
        do {
            try await http1.executeThenClose { _, outbound in
                let body = refusal.jsonBody
                var fields: HTTPFields = [
                    .connection: "close", .contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes),
                ]
                fields.append(contentsOf: refusal.headers)
                let head = HTTPResponse(status: refusal.status, headerFields: fields)
                try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
            }
        } catch {
            logger.trace("could not answer a refused upgrade: \(error)")
        }
    }

    private static func request(_ head: HTTPRequestHead) throws -> Request {
        Request(head: try HTTPRequest(head, secure: false, splitCookie: false), body: .init(buffer: ByteBuffer()))
    }

    /// Answers a WebSocket upgrade on a reused keep-alive connection with a redirect to the same
    /// URI and closes it, so the client retries on a new connection, where the upgrade is read
    /// (NIO's upgrade handler only looks at a connection's first request), as Hummingbird does.
    private static func redirectingUpgrades(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        struct RedirectCloseError: Error {}
        return { request, responseWriter, channel in
            guard request.headers[.upgrade] == "websocket" else {
                return try await responder(request, responseWriter, channel)
            }
            // One leading slash: `//host/x` in a Location is another host (RFC 3986 §4.2).
            var path = "/" + request.uri.path.drop { $0 == "/" }
            if let query = request.uri.query { path += "?\(query)" }
            let response = HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: path])
            try await responseWriter.writeResponse(response)
            throw RedirectCloseError()
        }
    }
}

/// Closes a connection once its bytes could not be parsed as HTTP: NIO's protocol error handler
/// answered 400 with `Connection: close`, and nothing after it would close the connection (the
/// upgrade handler waiting for the first request passes errors on and waits on).
final class ClosingOnUnparsableRequests: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = NIOAny

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError { context.close(promise: nil) }
        context.fireErrorCaught(error)
    }
}

/// NIO's WebSocket upgrader, with its own checks of the handshake's headers made first: NIO fails
/// an upgrade with a missing, repeated or unsupported `Sec-WebSocket-Version` or `Sec-WebSocket-Key`
/// and the connection closes without a response. Here such an upgrade is refused (`refused`) and
/// answered like every other refusal, 426 for a version other than 13 (RFC 6455 §4.2.2).
struct HandshakeCheckingUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPServerProtocolUpgrader {
    let upgrader: NIOTypedWebSocketServerUpgrader<UpgradeResult>
    let refused: @Sendable (APIError) -> Void

    var supportedProtocol: String { upgrader.supportedProtocol }
    var requiredUpgradeHeaders: [String] { upgrader.requiredUpgradeHeaders }

    /// Why a WebSocket handshake's headers are refused; nil when NIO's upgrader will take them.
    static func refusal(of headers: HTTPHeaders) -> APIError? {
        let supported: HTTPFields = [HTTPField.Name("Sec-WebSocket-Version")!: "13"]
        // Counted as NIO's upgrader counts them: comma-separated values, empty ones left out.
        let versions = headers[canonicalForm: "Sec-WebSocket-Version"]
        guard versions.count == 1 else {
            return APIError(
                status: .badRequest, error: "invalid_upgrade",
                details: "a WebSocket upgrade needs one Sec-WebSocket-Version value (13); it had \(versions.count)", headers: supported)
        }
        guard versions[0] == "13" else {
            return APIError(
                status: .init(code: 426, reasonPhrase: "Upgrade Required"), error: "unsupported_websocket_version",
                details: "WebSocket version \(versions[0].prefix(16)) is not supported; use 13", headers: supported)
        }
        let keys = headers[canonicalForm: "Sec-WebSocket-Key"]
        guard keys.count == 1 else {
            return APIError(
                status: .badRequest, error: "invalid_upgrade",
                details: "a WebSocket upgrade needs one Sec-WebSocket-Key value; it had \(keys.count)", headers: supported)
        }
        return nil
    }

    func buildUpgradeResponse(
        channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        if let refusal = Self.refusal(of: upgradeRequest.headers) {
            refused(refusal)
            return channel.eventLoop.makeFailedFuture(refusal)
        }
        return upgrader.buildUpgradeResponse(channel: channel, upgradeRequest: upgradeRequest, initialResponseHeaders: initialResponseHeaders)
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        upgrader.upgrade(channel: channel, upgradeRequest: upgradeRequest)
    }
}

/// Marks every request that ends its connection with `Connection: close`, the one form
/// Hummingbird closes on: an HTTP/1.0 request without `Connection: keep-alive` (HTTP/1.0 clients
/// read the answer until the server closes; the version is lost in the conversion to HTTP Types,
/// so such a connection stayed open until the idle timeout) and `Connection: Close` in any case.
final class ConnectionCloseMarker: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), !head.isKeepAlive else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}

/// Ends a connection whose request was answered before its body had arrived: a refusal (401, 403,
/// 413, a bad route) that did not read it. Hummingbird would read the rest of the body before the
/// next request, however long it is and however slowly it comes (a reviewer sent 15.8 GB in 8 s
/// after a 401, and kept another connection open for minutes at a byte every 20 s). The answer
/// gets `Connection: close`; once it is written, nothing more is read, and the connection is closed
/// a second later (time for the client to read the answer before unread bytes reset it).
final class UnreadBodyCloser: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Requests whose end arrived, and responses begun: the response being written answers the
    /// request at index `responsesBegun` (requests may be pipelined behind it).
    private var requestsEnded = 0
    private var responsesBegun = 0
    private var closing = false

    /// How long the client has to read the answer before the connection is closed.
    static let linger = TimeAmount.seconds(1)

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Once the answer said the connection closes, nothing more is taken in: the rest of the
        // refused body, or a request pipelined behind it (RFC 9112 §9.6), which the client will
        // send again on a new connection.
        guard !closing else { return }
        if case .end = unwrapInboundIn(data) { requestsEnded += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            if requestsEnded <= responsesBegun {
                closing = true
                head.headers.replaceOrAdd(name: "connection", value: "close")
                responsesBegun += 1
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
            responsesBegun += 1
        case .end where closing:
            let written = promise ?? context.eventLoop.makePromise()
            context.write(data, promise: written)
            let channel = context.channel
            written.futureResult.whenComplete { _ in
                channel.eventLoop.scheduleTask(in: Self.linger) { channel.close(promise: nil) }
            }
            return
        default:
            break
        }
        context.write(data, promise: promise)
    }

    /// Nothing more is read once the answer that closes the connection began.
    func read(context: ChannelHandlerContext) {
        guard !closing else { return }
        context.read()
    }
}
