import Broker
import HummingbirdCore
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the Hummingbird application: the HTTP API on the router, and the WebSocket endpoint,
/// whose sessions run in the connections' pipelines (`BrokerChildChannel`, `WebSocketSession`).
enum BrokerServer {
    /// The identity a WebSocket upgrade proves with its token; nil when auth is off.
    static func authenticate(_ request: Request, runtime: BrokerRuntime) async throws(ClientAuthError) -> ClientIdentity? {
        guard let verifier = runtime.tokenVerifier else { return nil }
        guard let token = request.clientToken else { throw .missingToken }
        return try await verifier.verify(token)
    }

    static func makeApplication(
        runtime: BrokerRuntime, onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let configuration = runtime.configuration
        let router = Router(context: BrokerRequestContext.self)
        let routeMethods = RouteMethods()
        // Outermost: it sees every answer, refusals included, with the route that matched.
        if runtime.metrics != nil { router.add(middleware: MetricsMiddleware()) }
        router.add(middleware: BrowserOriginMiddleware { [runtime] in runtime.allowedOrigins })
        router.add(middleware: APIErrorMiddleware(routes: routeMethods))
        // The live console: files only where no route matched, so routes keep precedence.
        if let files = PublicFilesMiddleware<BrokerRequestContext>(directory: configuration.publicDirectory, logger: runtime.logger) {
            router.add(middleware: files)
        }
        let routes = RecordingRouter(router: router, methods: routeMethods)
        APIRoutes(runtime: runtime).register(on: routes)
        // A plain GET of the WebSocket endpoint (upgrades never reach the router).
        routes.get(RouterPath(stringLiteral: String(WebSocketEndpoint.path.dropFirst()))) { _, _ -> Response in
            throw APIError(
                status: .init(code: 426, reasonPhrase: "Upgrade Required"), error: "upgrade_required",
                details: "open a WebSocket here: GET with Upgrade: websocket", headers: [.upgrade: "websocket", .connection: "Upgrade"])
        }
        let endpoint = WebSocketEndpoint(runtime: runtime)
        return Application(
            router: router,
            server: HTTPServerBuilder { responder in BrokerChildChannel(responder: responder, endpoint: endpoint) },
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "brokerd"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: runtime.logger)
    }
}

extension HTTPField.Name {
    /// The client address chain proxies append to (`client, proxy1, proxy2`).
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
}
