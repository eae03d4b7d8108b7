import Foundation
import Hummingbird
import Logging

/// The static files of `public_dir` (the live console), served for GET and HEAD requests no route answers.
///
/// Routes come first: Hummingbird's `FileMiddleware` looks for a file only when the router found no
/// route for the path, so `/api/...`, `/ws/...`, `/healthz` and the rest can never be shadowed by a
/// file. A path with a `..` segment (also percent-encoded) is never looked up: it gets the router's
/// own 404, so nothing outside the directory can be reached.
struct PublicFilesMiddleware<Context: RequestContext>: RouterMiddleware {
    let files: FileMiddleware<Context, LocalFileSystem>

    /// Text types carry `charset=utf-8`: the console shows Chinese stock names.
    static var textTypes: [String: MediaType] {
        [
            "html": MediaType(type: .text, subType: "html", parameter: ("charset", "utf-8")),
            "js": MediaType(type: .text, subType: "javascript", parameter: ("charset", "utf-8")),
            "css": MediaType(type: .text, subType: "css", parameter: ("charset", "utf-8")),
        ]
    }

    /// Serves `directory`; nil, logged once, when there is no such directory.
    init?(directory: String, logger: Logger) {
        let absolute = URL(fileURLWithPath: directory).standardizedFileURL.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            logger.warning(
                "live console off: public_dir is not a directory",
                metadata: [
                    "public_dir": "\(absolute)",
                    "hint": "run brokerd where its Public/ directory is, or set public_dir (--public-dir, BROKERD_PUBLIC_DIR)",
                ])
            return nil
        }
        logger.info("live console on", metadata: ["public_dir": "\(absolute)"])
        // FileMiddleware's file provider logs its root at info on every start: said above already.
        var quiet = logger
        quiet.logLevel = .warning
        files = FileMiddleware<Context, LocalFileSystem>(
            directory,
            // Revalidated on every load (304 by ETag), so a restarted broker never runs a stale console.
            cacheControl: CacheControl([(MediaType(type: .any), [.noCache])]),
            searchForIndexHtml: true,
            logger: quiet
        )
        .withAdditionalMediaTypes(forFileExtensions: Self.textTypes)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path.removingPercentEncoding ?? request.uri.path
        guard !path.split(separator: "/").contains(where: { $0 == ".." || $0.contains("\\") }) else {
            return try await next(request, context)
        }
        return try await files.handle(request, context: context, next: next)
    }
}
