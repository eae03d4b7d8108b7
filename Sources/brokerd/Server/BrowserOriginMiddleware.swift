import Hummingbird

/// CORS for the pages `allowed_origins` lists: their requests get `Access-Control-Allow-Origin`
/// (their own origin) and their preflights are answered, so a trading page served elsewhere can
/// read `/api/prices` with a client token. Requests from other pages get no CORS headers, which
/// browsers take as a refusal; requests without `Origin` (not from a browser) pass untouched.
///
/// The allow-list is read on each request that has an `Origin`: a reload may change it.
struct BrowserOriginMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowed: @Sendable () -> AllowedOrigins?
    private let cors = CORSMiddleware<Context>(
        allowOrigin: .originBased, allowHeaders: [.accept, .authorization, .contentType],
        allowMethods: [.get, .head, .post, .put, .delete, .options], maxAge: .seconds(600))

    init(allowed: @escaping @Sendable () -> AllowedOrigins?) {
        self.allowed = allowed
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], let allowed = allowed(), allowed.permits(origin: origin, host: request.head.authority)
        else {
            return try await next(request, context)
        }
        return try await cors.handle(request, context: context, next: next)
    }
}
