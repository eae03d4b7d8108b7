import HTTPTypes
import Hummingbird
import Synchronization

/// The methods the registered routes answer at each path, so that a request for a known path with
/// another method gets `405 Method Not Allowed` and an `Allow` header (RFC 9110 §15.5.6), not 404.
///
/// Filled while the routes are registered (through `RecordingRouter`), read on failed requests.
/// Patterns are matched segment by segment as the router does (`:name` captures one segment); the
/// routes here use no `**` wildcards, which this does not follow.
final class RouteMethods: Sendable {
    private let routes = Mutex<[(path: RouterPath, method: HTTPRequest.Method)]>([])

    func record(_ path: RouterPath, _ method: HTTPRequest.Method) {
        routes.withLock { $0.append((path, method)) }
    }

    /// The methods of the routes whose pattern matches `path`, in registration order; empty when no
    /// route has this path.
    func allowedMethods(at path: String) -> [HTTPRequest.Method] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        return routes.withLock { routes in
            var methods: [HTTPRequest.Method] = []
            for route in routes where Self.matches(route.path, segments) && !methods.contains(route.method) {
                methods.append(route.method)
            }
            return methods
        }
    }

    private static func matches(_ pattern: RouterPath, _ segments: [Substring]) -> Bool {
        pattern.count == segments.count && zip(pattern, segments).allSatisfy { element, segment in element ~= segment }
    }
}

/// A router that records every route's path and method in `methods` as it passes it on; groups
/// made from it (`group(_:)`) pass their routes, with the group's prefix, through it as well.
struct RecordingRouter<Context: RequestContext>: RouterMethods {
    let router: Router<Context>
    let methods: RouteMethods

    @discardableResult func on<Responder: HTTPResponder>(
        _ path: RouterPath, method: HTTPRequest.Method, responder: Responder
    ) -> Self where Responder.Context == Context {
        methods.record(path, method)
        router.on(path, method: method, responder: responder)
        // A server that answers GET answers HEAD (RFC 9110 §9.3.2): uptime checks and load
        // balancers probe with it.
        if method == .get {
            methods.record(path, .head)
            router.on(path, method: .head, responder: HeadResponder(get: responder))
        }
        return self
    }

    @discardableResult func add(middleware: any MiddlewareProtocol<Request, Response, Context>) -> Self {
        router.add(middleware: middleware)
        return self
    }
}

/// Answers HEAD with its GET route; `APIErrorMiddleware` takes the body off (and off the error
/// answers of every HEAD request), keeping the `Content-Length` it would have had.
struct HeadResponder<Get: HTTPResponder>: HTTPResponder {
    let get: Get

    func respond(to request: Request, context: Get.Context) async throws -> Response {
        try await get.respond(to: request, context: context)
    }
}
