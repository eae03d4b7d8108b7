import Hummingbird

extension Request {
    /// The client token a WebSocket upgrade presents: `Authorization: Bearer <jwt>`, else `?token=`.
    ///
    /// Both are accepted because browsers cannot set headers on a WebSocket upgrade; the header
    /// is preferred because proxies log URLs (with the query) but not headers.
    var clientToken: String? {
        if let credentials = bearerCredentials, !credentials.isEmpty { return credentials }
        guard let token = uri.formValue("token"), !token.isEmpty else { return nil }
        return token
    }

    /// What `Authorization: Bearer <credentials>` carries (the scheme in any case, as HTTP's
    /// schemes are); nil without such a header.
    var bearerCredentials: String? {
        guard let header = headers[.authorization] else { return nil }
        let scheme = header.prefix { $0 != " " }
        guard scheme.lowercased() == "bearer" else { return nil }
        return String(header.dropFirst(scheme.count).drop { $0 == " " })
    }
}
