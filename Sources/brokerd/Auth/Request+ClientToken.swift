import Hummingbird

extension Request {
    /// The client token a WebSocket upgrade presents: `Authorization: Bearer <jwt>`, else `?token=`.
    ///
    /// Both are accepted because browsers cannot set headers on a WebSocket upgrade; the header
    /// is preferred because proxies log URLs (with the query) but not headers.
    var clientToken: String? {
        if let header = headers[.authorization] {
            let scheme = header.prefix { $0 != " " }
            let credentials = header.dropFirst(scheme.count).drop { $0 == " " }
            if scheme.lowercased() == "bearer", !credentials.isEmpty { return String(credentials) }
        }
        guard let token = uri.queryParameters.get("token"), !token.isEmpty else { return nil }
        return token
    }
}
