/// A parsed `redis://[[user]:password@]host[:port][/db]` address; port 6379 and db 0 by default.
public struct RedisURL: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address (IPv6 without brackets).
    public var host: String
    /// TCP port.
    public var port: Int
    /// Logical database selected after connecting.
    public var database: Int
    /// ACL user sent with `AUTH`; nil for the default user.
    public var user: String?
    /// Password sent with `AUTH`; nil when Redis needs none.
    public var password: String?

    /// Creates an address from its parts.
    public init(host: String, port: Int = 6379, database: Int = 0, user: String? = nil, password: String? = nil) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
    }

    /// Parses `redis://host[:port][/db]`, optionally with `user:password@` or `:password@` before the host.
    public init(parsing text: String) throws(RedisError) {
        func fail(_ reason: String) -> RedisError { .invalidURL(text, reason: reason) }
        let scheme = "redis://"
        guard text.lowercased().hasPrefix(scheme) else { throw fail("the scheme must be redis://") }
        var rest = Substring(text.dropFirst(scheme.count))
        if rest.contains("?") || rest.contains("#") { throw fail("query and fragment are not supported") }

        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                let name = userInfo[..<colon]
                user = name.isEmpty ? nil : String(name)
                password = String(userInfo[userInfo.index(after: colon)...])
            } else {
                password = String(userInfo)
            }
        }

        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("an IPv6 host needs a closing ]") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("expected :port after the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw fail("the host is missing") }

        var port = 6379
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else {
                throw fail("the port must be a number from 1 to 65535")
            }
            port = value
        }
        var database = 0
        if !path.isEmpty {
            guard let value = Int(path), value >= 0 else { throw fail("the path must be a database number, e.g. /0") }
            database = value
        }
        self.init(host: String(host), port: port, database: database, user: user, password: password)
    }

    /// The address for logs, with the password left out.
    public var description: String {
        let credentials = password == nil ? "" : "\(user ?? ""):***@"
        let shownHost = host.contains(":") ? "[\(host)]" : host
        return "redis://\(credentials)\(shownHost):\(port)/\(database)"
    }

    /// `host:port`, for error messages.
    var endpoint: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
