import Broker
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the Hummingbird application: the HTTP API and the WebSocket endpoint on one router.
enum BrokerServer {
    /// A cap far above `max_frame_bytes`: frames between the two get an `error` reply, larger ones
    /// are cut off by NIO itself (close code 1009) before they are buffered.
    static func hardFrameCap(_ configuration: Configuration) -> Int {
        min(16 * 1024 * 1024, max(configuration.limits.maxFrameBytes * 4, 1 << 16))
    }

    /// The identity a WebSocket upgrade proves with its token; nil when auth is off.
    static func authenticate(_ request: Request, runtime: BrokerRuntime) async throws(ClientAuthError) -> ClientIdentity? {
        guard let verifier = runtime.tokenVerifier else { return nil }
        guard let token = request.clientToken else { throw .missingToken }
        return try await verifier.verify(token)
    }

    /// The session an upgraded connection asked for: its real address, its identity (refused with
    /// 1008 when auth is on and the token fails) and what it wants to resume. Never inlined, so the
    /// connection-long task does not keep this function's frame.
    @inline(never)
    static func session(
        for context: WebSocketRouterContext<BrokerRequestContext>, outbound: WebSocketOutboundWriter, runtime: BrokerRuntime
    ) async -> ClientSession? {
        guard let store = runtime.store else { return nil }
        // The real client behind trusted proxies (nginx), else the TCP peer.
        let remoteAddress = runtime.clientAddresses.resolve(
            peer: context.requestContext.remoteAddress?.hostAddress,
            forwardedFor: context.request.headers[values: .xForwardedFor])
        let identity: ClientIdentity?
        do throws(ClientAuthError) {
            identity = try await authenticate(context.request, runtime: runtime)
        } catch {
            // Upgraded first so the client can read why: a refused upgrade is an opaque
            // failure in browsers. No session is opened, so nothing is journaled.
            runtime.logger.warning("client refused", metadata: ["remote": "\(remoteAddress ?? "-")", "reason": "\(error.details)"])
            try? await outbound.close(.policyViolation, reason: error.closeReason)
            return nil
        }
        let query = context.request.uri.queryParameters
        let resume = query.get("resume").flatMap { id -> ClientSession.ResumeRequest? in
            id.isEmpty ? nil : ClientSession.ResumeRequest(clientID: id, since: query.get("since").flatMap { UInt64($0) })
        }
        return ClientSession(runtime: runtime, store: store, remoteAddress: remoteAddress, resumeRequest: resume, identity: identity)
    }

    static func makeApplication(
        runtime: BrokerRuntime, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let configuration = runtime.configuration
        let router = Router(context: BrokerRequestContext.self)
        router.add(middleware: APIErrorMiddleware())
        // The live console: files only where no route matched, so routes keep precedence.
        if let files = PublicFilesMiddleware<BrokerRequestContext>(directory: configuration.publicDirectory, logger: runtime.logger) {
            router.add(middleware: files)
        }
        APIRoutes(runtime: runtime).register(on: router)
        router.ws("ws/stock/prices") { _, _ in
            guard runtime.store != nil, !runtime.isShuttingDown else { throw APIError.notReady }
            guard runtime.registry.count < configuration.limits.maxClients else {
                throw APIError(
                    status: .serviceUnavailable, error: "too_many_clients",
                    details: "the broker serves at most \(configuration.limits.maxClients) connections; retry later")
            }
            return .upgrade([:])
        } onUpgrade: { inbound, outbound, context in
            guard let session = await session(for: context, outbound: outbound, runtime: runtime) else { return }
            await session.run(inbound: inbound, outbound: outbound, channel: context.requestContext.channel)
        }
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(
                webSocketRouter: router,
                configuration: .init(ws: .init(maxFrameSize: hardFrameCap(configuration), autoPing: .disabled))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "brokerd"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: runtime.logger)
    }
}

extension HTTPField.Name {
    /// The client address chain proxies append to (`client, proxy1, proxy2`).
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
