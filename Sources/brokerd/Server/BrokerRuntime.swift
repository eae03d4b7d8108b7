import Broker
import Journal
import Logging
import Publishers
import Synchronization

/// Everything the server's routes and sessions share: settings, the store once replay is done,
/// the live connections and the fan-out.
final class BrokerRuntime: Sendable {
    let configuration: Configuration
    let registry = ConnectionRegistry()
    let sink: OutboxSink
    let publishers: PublisherHost
    let tickRate = TickRate()
    let logger: Logger
    let startedAt = WallClock.microsecondsNow()
    /// The seed's K-line cache in Redis, when `redis_kline_key` and `redis_url` are set.
    let klineCache: RedisKlineCache?
    /// Checks client tokens when `jwt_secret` is set; nil lets clients connect anonymously.
    let tokenVerifier: ClientTokenVerifier?
    private let readyStore = Mutex<EventStore?>(nil)
    private let shuttingDown = Atomic<Bool>(false)
    private let redisSource = Mutex<RedisTickSource?>(nil)

    init(configuration: Configuration, logger: Logger, tokenVerifier: ClientTokenVerifier? = nil) {
        self.configuration = configuration
        self.logger = logger
        self.tokenVerifier = tokenVerifier
        let sink = OutboxSink(registry: registry, logger: logger)
        self.sink = sink
        self.publishers = PublisherHost(publishers: Self.publishers(), sink: sink, logger: logger)
        if let pattern = configuration.redis.klineKey, let url = configuration.redis.url.flatMap({ try? RedisURL(parsing: $0) }) {
            klineCache = RedisKlineCache(url: url, keyPattern: pattern, logger: logger)
        } else {
            if configuration.redis.klineKey != nil {
                logger.warning("redis_kline_key is set but redis_url is not (or is invalid): the K-line cache is not read")
            }
            klineCache = nil
        }
    }

    /// The store, once the journal is open and replayed; nil before (routes answer 503 then).
    var store: EventStore? { readyStore.withLock { $0 } }

    func becomeReady(with store: EventStore) {
        readyStore.withLock { $0 = store }
    }

    /// The Redis source, when one is configured and started.
    var redis: RedisTickSource? { redisSource.withLock { $0 } }

    func attachRedis(_ source: RedisTickSource) {
        redisSource.withLock { $0 = source }
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }

    func beginShutdown() {
        shuttingDown.store(true, ordering: .relaxed)
    }

    /// The publishers this broker runs. Add yours here: one line.
    static func publishers() -> [any Publisher] {
        [
            PricePublisher(),
            KlinePublisher(),
            NewsPublisher(),
            AlertPublisher(),
            VolumeSpikePublisher(),
        ]
    }

    /// The limits the decider enforces, from the configuration.
    var brokerLimits: Broker.Limits {
        var limits = Broker.Limits()
        limits.maxSubscriptionsPerClient = configuration.limits.maxSubscriptionsPerClient
        return limits
    }
}
