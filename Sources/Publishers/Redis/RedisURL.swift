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
    ///
    /// User and password are percent-decoded as RFC 3986 has it (`%40` for `@`, `%25` for `%`). The
    /// userinfo runs to the last `@`, which host, port and db never hold, so a password may also
    /// hold `/`, `?`, `#` and `@` as they are. Errors show the URL without its userinfo.
    public init(parsing text: String) throws(RedisError) {
        func fail(_ reason: String) -> RedisError { .invalidURL(Self.withoutCredentials(text), reason: reason) }
        let scheme = "redis://"
        guard text.lowercased().hasPrefix(scheme) else { throw fail("the scheme must be redis://") }
        var rest = Substring(text.dropFirst(scheme.count))

        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            let colon = userInfo.firstIndex(of: ":")
            let encodedPassword = colon.map { userInfo[userInfo.index(after: $0)...] } ?? userInfo
            guard let decoded = Self.percentDecoded(encodedPassword) else {
                throw fail("the password has a malformed percent escape (% and two hex digits of UTF-8; % itself is %25)")
            }
            password = decoded
            if let colon, colon > userInfo.startIndex {
                guard let name = Self.percentDecoded(userInfo[..<colon]) else {
                    throw fail("the user has a malformed percent escape (% and two hex digits of UTF-8; % itself is %25)")
                }
                user = name
            }
        }
        if rest.contains("?") || rest.contains("#") { throw fail("query and fragment are not supported") }

        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
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

    /// `text` with everything between `://` and the last `@` (user and password) as `***`, for
    /// messages about a URL that may not parse.
    public static func withoutCredentials(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].lastIndex(of: "@") else { return text }
        return text[..<scheme.upperBound] + "***" + text[at...]
    }

    /// `text` with its `%XX` escapes decoded; nil when a `%` is not followed by two hex digits or
    /// the bytes are not UTF-8.
    private static func percentDecoded(_ text: Substring) -> String? {
        let encoded = Array(text.utf8)
        var bytes: [UInt8] = []
        var index = 0
        while index < encoded.count {
            guard encoded[index] == UInt8(ascii: "%") else {
                bytes.append(encoded[index])
                index += 1
                continue
            }
            guard index + 2 < encoded.count, let high = hexValue(encoded[index + 1]), let low = hexValue(encoded[index + 2]) else { return nil }
            bytes.append(high << 4 | low)
            index += 3
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
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
