import Foundation
import Hummingbird
import NIOCore

/// An HTTP API failure, answered as `{"error","details"}` with a fitting status.
struct APIError: Error {
    let status: HTTPResponse.Status
    let error: String
    let details: String
    /// Header fields the status calls for (`Allow` of a 405, `Upgrade` of a 426).
    var headers: HTTPFields = [:]

    static let notReady = APIError(
        status: .serviceUnavailable, error: "not_ready", details: "the broker is still replaying its journal; retry shortly")

    static let shuttingDown = APIError(
        status: .serviceUnavailable, error: "shutting_down", details: "the broker is shutting down; send this to another node or retry after it restarts")

    static let draining = APIError(
        status: .serviceUnavailable, error: "draining",
        details: "the broker is stopping and closing its clients a few at a time (shutdown_drain); connect to another node")

    static func badRequest(_ error: String, _ details: String) -> APIError {
        APIError(status: .badRequest, error: error, details: details)
    }

    /// 405 for a path that takes other methods, with the `Allow` they make.
    static func methodNotAllowed(_ method: HTTPRequest.Method, at path: String, allowed: [HTTPRequest.Method]) -> APIError {
        let list = allowed.map(\.rawValue).joined(separator: ", ")
        return APIError(
            status: .methodNotAllowed, error: "method_not_allowed", details: "\(path) does not take \(method); it takes \(list)",
            headers: [.allow: list])
    }

    var response: Response {
        var response = JSONResponse.make(status: status, ["error": error, "details": details])
        response.headers.append(contentsOf: headers)
        return response
    }

    /// The JSON body of `response`, for writers below the router.
    var jsonBody: ByteBuffer {
        ByteBuffer(bytes: JSONResponse.encode(["error": error, "details": details]))
    }
}

/// Builds JSON responses.
enum JSONResponse {
    static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return (try? encoder.encode(value)) ?? Data(#"{"error":"internal","details":"response encoding failed"}"#.utf8)
    }

    static func make(status: HTTPResponse.Status = .ok, _ value: some Encodable) -> Response {
        make(status: status, json: ByteBuffer(bytes: encode(value)))
    }

    /// A response of JSON written already.
    static func make(status: HTTPResponse.Status = .ok, json: ByteBuffer) -> Response {
        Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: json))
    }
}

/// Turns every error a route throws into the API's JSON error shape.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The methods of the routes, for 405 where only the method is wrong.
    let routes: RouteMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await answer(request, context: context, next: next)
        guard request.method == .head else { return response }
        // The answer a GET would get, without its body (RFC 9110 §9.3.2), with the length GET would
        // send: the header the answer has (a HEAD the file middleware answered has no body but the
        // file's length), else its body's.
        var headers = response.headers
        if headers[.contentLength] == nil, let length = response.body.contentLength { headers[.contentLength] = String(length) }
        return Response(status: response.status, headers: headers, body: ResponseBody())
    }

    private func answer(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as HTTPError where error.status == .notFound && error.body == nil {
            // The router's own 404: no route matched the path and method. A path that routes
            // answer for other methods gets 405 and the methods it takes.
            let allowed = routes.allowedMethods(at: request.uri.path)
            guard !allowed.isEmpty else {
                return APIError(status: .notFound, error: "not_found", details: "no route \(request.method) \(request.uri.path)").response
            }
            return APIError.methodNotAllowed(request.method, at: request.uri.path, allowed: allowed).response
        } catch let error as HTTPError {
            let name = switch error.status {
            case .notFound: "not_found"
            case .badRequest: "invalid_body"
            case .contentTooLarge: "body_too_large"
            default: "http_\(error.status.code)"
            }
            let details = error.body ?? error.status.reasonPhrase
            return APIError(status: error.status, error: name, details: details).response
        } catch let error as DecodingError {
            return APIError.badRequest("invalid_body", Self.describe(error)).response
        } catch is NIOTooManyBytesError {
            // Collecting the body stopped at the limit: nothing of it was used. (The error's own
            // `maxBytes` is what was left of the limit when a chunk overflowed it, not the limit.)
            return APIError(
                status: .contentTooLarge, error: "body_too_large",
                details: "the body is larger than the limit of \(context.maxUploadSize) bytes").response
        } catch {
            return APIError(status: .internalServerError, error: "internal", details: "\(error)").response
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let path = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return path.isEmpty ? "the body" : String(path.drop { $0 == "." })
        }
        switch error {
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        case .keyNotFound(let key, let context): return "\(path(context)): missing field \"\(key.stringValue)\""
        case .typeMismatch(let type, let context): return "\(path(context)): expected \(type)"
        case .valueNotFound(let type, let context): return "\(path(context)): expected \(type), got null"
        @unknown default: return "\(error)"
        }
    }
}

/// Requires `Authorization: Bearer <admin token>` on the routes it guards, when a token is
/// configured (read on each request: a reload may set, change or remove it).
struct AdminTokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: @Sendable () -> String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token = token() else { return try await next(request, context) }
        guard let presented = request.bearerCredentials else {
            throw APIError(status: .unauthorized, error: "unauthorized", details: "send Authorization: Bearer <admin token>")
        }
        guard constantTimeEqual(presented, token) else {
            throw APIError(status: .forbidden, error: "forbidden", details: "the admin token is wrong")
        }
        return try await next(request, context)
    }
}

/// Whether `a` equals `b`, taking as long for every `a` of a length: how long a wrong token
/// took to refuse tells nothing of how much of it was right.
func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8), y = Array(b.utf8)
    var difference = UInt8(x.count == y.count ? 0 : 1)
    for index in 0..<min(x.count, y.count) { difference |= x[index] ^ y[index] }
    return difference == 0
}
