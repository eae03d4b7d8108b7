import Broker
import Dispatch
import Foundation
import Logging
import Synchronization

/// Reads the latest K-line bar of a code from the seed's Redis cache, on demand.
///
/// Assumed shape (the seed's cache is not documented beyond `redis.get(code)`): the key
/// `kline:<code>:<period>` (configurable with `{code}` and `{period}` placeholders, e.g. `{code}`
/// for the seed's bare keys) holds a JSON object `{"open","high","low","close","volume","start"}`,
/// or a JSON array of such objects ordered oldest first, of which the last is taken. Prices are
/// numbers or numeric strings; `volume` defaults to 0; `start` is Unix time in seconds,
/// milliseconds or microseconds (told apart by magnitude). The bar is returned open
/// (`closed: false`), since a cache holds the bar in progress.
public final class RedisKlineCache: Sendable {
    /// The server and database holding the cache; a move (a reload of `redis_url`) takes the
    /// lookups there from the next one on.
    public let address: RedisAddress
    /// The server and database now.
    public var url: RedisURL { address.url }
    /// Key template with `{code}` and `{period}` placeholders, as last set (`setKeyPattern`).
    public var keyPattern: String { pattern.withLock { $0 } }
    private let pattern: Mutex<String>
    private let timeout: Duration
    /// The connection's name in Redis (`CLIENT SETNAME`).
    private let clientName: String
    private let logger: Logger
    /// Every lookup runs here: a serial queue of its own, so the blocking GET occupies neither
    /// Swift's cooperative pool nor an event loop, and the one connection is used by one lookup at a time.
    private let queue = DispatchQueue(label: "brokerd.redis.kline-cache")
    /// The connection, opened on first use and dropped after any failure, with the address' moves
    /// when it was opened (a move drops it too); only touched on `queue`.
    private let connection = Mutex<(RedisConnection, moves: UInt64)?>(nil)
    /// How long lookups are skipped after one failed: a stalled or unreachable Redis costs one
    /// lookup its `timeout` per pause, not every new stock subscriber in turn.
    private let pauseAfterFailure: Duration
    /// Until when lookups are skipped (answered "no bar"), and the address' moves at the failure:
    /// a pause after a failure of the old address does not hold for the new one.
    private let pausedUntil = Mutex<(until: ContinuousClock.Instant, moves: UInt64)?>(nil)

    /// Creates a cache reader of `address` (when given: shared with the broker's other users of
    /// Redis), else of `url`; nothing connects until the first lookup. `node`: this node's id, for
    /// the connection's name (`RedisConnection.clientName`).
    public init(
        url: RedisURL, address: RedisAddress? = nil, keyPattern: String = "kline:{code}:{period}", timeout: Duration = .seconds(1),
        pauseAfterFailure: Duration = .seconds(5), node: String? = nil, logger: Logger = Logger(label: "brokerd.redis.kline")
    ) {
        self.address = address ?? RedisAddress(url)
        clientName = RedisConnection.clientName("klines", node: node)
        pattern = Mutex(keyPattern)
        self.timeout = timeout
        self.pauseAfterFailure = pauseAfterFailure
        self.logger = logger
    }

    /// Looks bars up under `keyPattern` from the next lookup on (a reload of `redis_kline_key`).
    public func setKeyPattern(_ keyPattern: String) {
        pattern.withLock { $0 = keyPattern }
    }

    /// The cached bar of `code` and `period`; nil when the key is missing, holds no usable bar
    /// (not a bar, or one the broker would refuse: no start or one before 2000, a price not finite
    /// or not positive, a high below its low…), or lookups are paused after a failure. Throws the
    /// failure that starts a pause.
    public func latestBar(code: String, period: String) async throws(RedisError) -> KlineBar? {
        let key = keyPattern.replacingOccurrences(of: "{code}", with: code).replacingOccurrences(of: "{period}", with: period)
        // Before the lookup: a failure is the address' of then, whatever moves meanwhile.
        let moves = address.moves
        let result: Result<RedisReply, RedisError>? = await withCheckedContinuation { continuation in
            queue.async { [self] in continuation.resume(returning: isPaused ? nil : get(key)) }
        }
        guard let result else { return nil }
        if case .failure = result {
            pausedUntil.withLock { $0 = (.now + pauseAfterFailure, moves) }
        }
        switch try result.get() {
        case .null:
            return nil
        case .bulk(let bytes):
            guard let bar = Self.decodeBar(bytes, code: code, period: period) else {
                logger.debug("K-line cache entry is not a bar", metadata: ["key": "\(key)"])
                return nil
            }
            if let refusal = Self.refusal(of: bar) {
                logger.debug("K-line cache entry is not a usable bar", metadata: ["key": "\(key)", "reason": "\(refusal)"])
                return nil
            }
            return bar
        case .error(let message):
            throw .commandFailed(command: "GET \(key)", message: message)
        case let other:
            throw .unexpectedReply(command: "GET \(key)", reply: other.description)
        }
    }

    private var isPaused: Bool {
        let moves = address.moves
        return pausedUntil.withLock { paused in paused.map { ContinuousClock.now < $0.until && $0.moves == moves } ?? false }
    }

    /// Drops the connection; the next lookup opens a new one.
    public func close() {
        queue.sync { connection.withLock { $0 = nil } }
    }

    private func get(_ key: String) -> Result<RedisReply, RedisError> {
        connection.withLock { connection in
            do throws(RedisError) {
                let (url, moves) = address.current
                // Opened before a move: closed (on release), and one opened at the new address.
                if let openedAt = connection?.moves, openedAt != moves { connection = nil }
                if connection == nil {
                    let opened = try RedisConnection(url: url, timeout: timeout, name: clientName)
                    opened.setReadTimeout(timeout)
                    connection = (opened, moves)
                }
                return .success(try connection!.0.command(["GET", key]))
            } catch {
                // The connection may be half-read after a failure; never reuse it.
                connection = nil
                return .failure(error)
            }
        }
    }

    /// Decodes an object or an array of objects (taking the last) into a bar.
    static func decodeBar(_ json: [UInt8], code: String, period: String) -> KlineBar? {
        let decoder = JSONDecoder()
        let data = Data(json)
        let cached: CachedBar
        if let one = try? decoder.decode(CachedBar.self, from: data) {
            cached = one
        } else if let many = try? decoder.decode([CachedBar].self, from: data), let last = many.last {
            cached = last
        } else {
            return nil
        }
        return KlineBar(
            code: code, period: period, open: cached.open.value, high: cached.high.value, low: cached.low.value,
            close: cached.close.value, volume: Int64(exactly: (cached.volume?.value ?? 0).rounded()) ?? 0,
            start: microseconds(cached.start?.value ?? 0), closed: false)
    }

    /// Why the broker would refuse `bar` as input, checked as `POST /api/klines` checks it; nil
    /// when it would take it. A bar without a start has start 0 and is refused with it.
    static func refusal(of bar: KlineBar) -> String? {
        if let problem = FieldRules.fedTimeProblem(bar.start) { return "start \(bar.start) \(problem)" }
        do {
            _ = try Decider.decide(.ingestBar(bar), state: Projection(), limits: Limits())
        } catch {
            return error.details
        }
        return nil
    }

    /// Unix time in seconds, milliseconds or microseconds, as microseconds.
    private static func microseconds(_ value: Double) -> Int64 {
        let scaled =
            switch abs(value) {
            case ..<1e11: value * 1_000_000  // seconds until the year 5138
            case ..<1e14: value * 1_000  // milliseconds
            default: value
            }
        return Int64(exactly: scaled.rounded()) ?? 0
    }
}

/// One bar as the cache stores it.
private struct CachedBar: Decodable {
    var open: CachedNumber
    var high: CachedNumber
    var low: CachedNumber
    var close: CachedNumber
    var volume: CachedNumber?
    var start: CachedNumber?
}

/// A number stored as a JSON number or as a numeric string (Python caches often do the latter).
private struct CachedNumber: Decodable {
    var value: Double

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Double.self) {
            value = number
        } else if let text = try? container.decode(String.self), let number = Double(text) {
            value = number
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a number")
        }
    }
}
