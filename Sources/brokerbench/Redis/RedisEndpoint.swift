/// Where brokerbench reaches Redis: `redis://[:password@]host[:port][/db]`.
struct RedisEndpoint: Sendable, CustomStringConvertible {
    var host: String
    var port: Int
    var database = 0
    var password: String?

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses the subset of Redis URLs the benchmark needs.
    init(parsing text: String) throws(RedisBenchError) {
        let scheme = "redis://"
        guard text.lowercased().hasPrefix(scheme) else { throw .invalidURL(text, reason: "the scheme must be redis://") }
        var rest = Substring(text.dropFirst(scheme.count))
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            guard path.isEmpty || Int(path) != nil else { throw .invalidURL(text, reason: "the path must be a database number") }
            database = Int(path) ?? 0
            rest = rest[..<slash]
        }
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            password = String(userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).last ?? "")
            rest = rest[rest.index(after: at)...]
        }
        var port = 6379
        if let colon = rest.lastIndex(of: ":") {
            guard let value = Int(rest[rest.index(after: colon)...]), (1...65_535).contains(value) else {
                throw .invalidURL(text, reason: "the port must be a number from 1 to 65535")
            }
            port = value
            rest = rest[..<colon]
        }
        guard !rest.isEmpty else { throw .invalidURL(text, reason: "the host is missing") }
        self.init(host: String(rest), port: port)
        self.database = database
        self.password = password
    }

    /// The URL to hand to the broker.
    var url: String {
        "redis://" + (password.map { ":\($0)@" } ?? "") + "\(host):\(port)" + (database == 0 ? "" : "/\(database)")
    }

    /// For logs and the report, without the password.
    var description: String { "redis://\(host):\(port)" + (database == 0 ? "" : "/\(database)") }
}
