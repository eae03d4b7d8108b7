import Hummingbird
import NIOCore
import NIOWebSocket

/// Where the server upgrades to a WebSocket session, when it refuses to, and what it installs.
struct WebSocketEndpoint: Sendable {
    /// The endpoint's path (the seed's).
    static let path = "/ws/stock/prices"

    let runtime: BrokerRuntime

    /// A cap far above `max_frame_bytes` as last reloaded, for a new connection: frames between
    /// the two get an `error` reply, larger ones are cut off by NIO itself (close code 1009)
    /// before they are buffered.
    var maxFrameSize: Int { Self.hardFrameCap(maxFrameBytes: runtime.connectionLimits.maxFrameBytes) }

    static func hardFrameCap(maxFrameBytes: Int) -> Int {
        min(16 * 1024 * 1024, max(maxFrameBytes * 4, 1 << 16))
    }

    /// Why an upgrade request on `channel` is refused (answered as an HTTP error); nil when it may
    /// upgrade, and then the connection holds one of the `max_clients` slots until `channel` closes.
    func admission(of request: Request, on channel: any Channel) -> APIError? {
        guard Self.isEndpoint(request.uri.path) else {
            return APIError(
                status: .notFound, error: "not_found", details: "no WebSocket endpoint at \(request.uri.path); use \(Self.path)")
        }
        guard request.method == .get else { return .methodNotAllowed(request.method, at: request.uri.path, allowed: [.get]) }
        // An upgrade has no body; NIO would wait for one announced before upgrading (until the
        // first-request timeout, when it never comes).
        if request.headers[.transferEncoding] != nil || (request.headers[.contentLength].map { $0 != "0" } ?? false) {
            return .badRequest("invalid_upgrade", "a WebSocket upgrade request has no body; send it without Content-Length or Transfer-Encoding")
        }
        if let allowed = runtime.allowedOrigins, let origin = request.headers[.origin],
            !allowed.permits(origin: origin, host: request.head.authority)
        {
            return APIError(
                status: .forbidden, error: "origin_not_allowed",
                details: "WebSocket connections from pages of \(MarketDataReads.quoted(origin)) are not allowed here (allowed_origins)")
        }
        guard runtime.store != nil else { return .notReady }
        guard !runtime.isShuttingDown else { return .shuttingDown }
        guard !runtime.isDraining else { return .draining }
        let admissions = runtime.admissions
        let holder = ObjectIdentifier(channel)
        // The real client behind trusted proxies (nginx), else the TCP peer.
        let address = runtime.clientAddresses.resolve(
            peer: channel.remoteAddress?.hostAddress, forwardedFor: request.headers[values: .xForwardedFor])
        let now = ThrottledLog.now()
        if let refusal = admissions.admit(holder, address: address.map(ClientAddressResolver.limitKey), now: now) {
            let error = Self.apiError(refusal)
            runtime.admissionRefusals.log(
                "WebSocket upgrade refused", key: error.error, metadata: ["remote": "\(address ?? "-")", "error": "\(error.error)", "details": "\(error.details)"],
                logger: runtime.logger, now: now)
            return error
        }
        channel.closeFuture.whenComplete { _ in admissions.release(holder) }
        return nil
    }

    /// How a refused admission is answered: 503 when the broker is full (another node may have
    /// room), 429 when the address is over its own limits (retrying sooner only fails again).
    static func apiError(_ refusal: ConnectionAdmissions.Refusal) -> APIError {
        switch refusal {
        case .full(let limit):
            APIError(
                status: .serviceUnavailable, error: "too_many_clients",
                details: "the broker serves at most \(limit) connections; retry later")
        case .addressFull(let address, let limit):
            APIError(
                status: .tooManyRequests, error: "too_many_connections_from_address",
                details: "\(address) holds \(limit) connections, the most one address may (max_clients_per_address); close one first")
        case .addressTooFast(let address, let rate, let retryAfter):
            APIError(
                status: .tooManyRequests, error: "connecting_too_fast",
                details: "\(address) opened new connections faster than \(rate.plainText) per second (address_connect_rate); retry in \(retryAfter) s",
                headers: [.retryAfter: String(retryAfter)])
        }
    }

    /// Installs the session on a channel NIO just upgraded (frame encoder and decoder in place);
    /// call on the channel's event loop. Its writer takes the fan-out of the loop, the price
    /// interval the client asked for (a `price_interval` the broker cannot take is answered in
    /// the session, after `connected`) and the compression it negotiated.
    func install(on channel: any Channel, upgrade request: Request) throws {
        let priceInterval = Self.priceInterval(of: request, brokerInterval: runtime.sink.priceInterval)
        let fanOut = runtime.sink.fanOut(
            for: channel.eventLoop, asked: priceInterval.asked, compression: compression(for: request))
        let writer = try ConnectionWriter.install(
            on: channel, fanOut: fanOut, capacity: runtime.connectionLimits.outboundQueueCapacity)
        try channel.pipeline.syncOperations.addHandler(WebSocketSession(upgrade: request, writer: writer, runtime: runtime))
    }

    /// Whether the upgrade `request` gets permessage-deflate: the broker's `websocket_compression`
    /// is on and the client offered it in a form the broker takes (answered in the upgrade's
    /// `Sec-WebSocket-Extensions`).
    func compression(for request: Request) -> Bool {
        runtime.configuration.websocketCompression
            && PerMessageDeflate.acceptsOffer(in: request.headers[values: .secWebSocketExtensions])
    }

    /// The price interval the upgrade `request` asks for (`?price_interval=`), on a broker whose
    /// own is `brokerInterval`.
    static func priceInterval(of request: Request, brokerInterval: Duration) -> ConnectionPriceInterval {
        ConnectionPriceInterval(requested: request.uri.formValue(ConnectionPriceInterval.queryName), brokerInterval: brokerInterval)
    }

    /// Whether `path` is the endpoint's, trailing slashes aside (as the router matched it).
    static func isEndpoint(_ path: String) -> Bool {
        var path = Substring(path)
        while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
        return path == Self.path
    }
}
