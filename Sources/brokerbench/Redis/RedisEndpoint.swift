import Publishers

/// Where brokerbench reaches Redis: the URL as given (handed to a spawned broker unchanged, password
/// included) and as parsed by the broker's own `RedisURL` (shown without the password).
struct RedisEndpoint: Sendable {
    let text: String
    let url: RedisURL

    /// A redis-server of the benchmark's own on a loopback port.
    init(localPort port: Int) {
        text = "redis://127.0.0.1:\(port)"
        url = RedisURL(host: "127.0.0.1", port: port)
    }

    init(text: String, url: RedisURL) {
        self.text = text
        self.url = url
    }

    /// A connection on which every read and write gives up after `timeout`, so a dead server
    /// cannot hang the benchmark.
    func connect(timeout: Duration = .seconds(10)) throws(RedisBenchError) -> RedisConnection {
        do throws(RedisError) {
            let connection = try RedisConnection(url: url, timeout: timeout)
            connection.setReadTimeout(timeout)
            return connection
        } catch {
            throw .redis(error)
        }
    }
}
