/// The web pages allowed to use the broker from a browser (`allowed_origins`): to open WebSocket
/// connections, and to read the HTTP API (CORS).
///
/// A browser names the page's origin in the `Origin` header of every WebSocket upgrade and
/// cross-origin request, and a page cannot forge it; so this keeps other sites' pages from using
/// the broker with their visitors' browsers. Clients that are not browsers are not affected: most
/// send no `Origin`, and the ones that do name the socket's own URL (`ws://host`, `wss://host`: the
/// Swift client's WebSocket library does), a scheme no page has. Nor are the broker's own pages
/// (the live console): an origin whose host and port are the request's `Host` is the same origin.
struct AllowedOrigins: Sendable, Equatable {
    /// The entry that allows every origin.
    static let wildcard = "*"

    /// Allowed origins, lowercased: `scheme://host[:port]`.
    let origins: Set<String>
    /// Whether `*` was listed.
    let allowsAll: Bool

    /// The allow-list of `entries` (each `*` or an origin); nil when there are none (no check).
    init?(_ entries: [String]) {
        guard !entries.isEmpty else { return nil }
        allowsAll = entries.contains(Self.wildcard)
        origins = Set(entries.filter { $0 != Self.wildcard }.map { $0.lowercased() })
    }

    /// Whether a request whose `Origin` header is `origin`, sent to the broker as `host` (the
    /// request's `Host`), comes from an allowed page.
    func permits(origin: String, host: String?) -> Bool {
        let origin = origin.lowercased()
        if allowsAll || origins.contains(origin) { return true }
        // Not a page's: browsers send http(s) origins (or "null"), whatever the socket's scheme.
        if origin.hasPrefix("ws://") || origin.hasPrefix("wss://") { return true }
        guard let host, let separator = origin.range(of: "://") else { return false }
        return origin[separator.upperBound...] == host.lowercased()
    }

    /// Why `entry` is not an origin `allowed_origins` can hold, or nil when it is: `*`, or
    /// `http` or `https`, `://`, a host and an optional port, nothing after (as browsers send it).
    static func problem(_ entry: String) -> String? {
        if entry == wildcard { return nil }
        let lowered = entry.lowercased()
        guard let scheme = ["http://", "https://"].first(where: lowered.hasPrefix) else {
            return "'\(entry.prefix(64))' is not an origin: use scheme://host[:port] with http or https, or *"
        }
        let rest = lowered.dropFirst(scheme.count)
        guard !rest.isEmpty, !rest.contains("/"), !rest.contains("?"), !rest.contains("#"), !rest.contains("@"),
            !rest.contains(where: { $0.isWhitespace })
        else {
            return "'\(entry.prefix(64))' is not an origin: a page's origin has no path, query or credentials (https://app.example.com)"
        }
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let port = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(port) else {
                return "'\(entry.prefix(64))' has a port that is not one (1-65535)"
            }
        }
        return nil
    }
}
