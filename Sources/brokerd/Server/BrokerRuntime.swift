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
    /// WebSocket connections admitted against `max_clients`, opening ones included.
    let admissions: ConnectionAdmissions
    /// Upgrades refused for the broker's or an address's connection limits, logged at most every 10 s.
    let admissionRefusals = ThrottledLog()
    let sink: OutboxSink
    let publishers: PublisherHost
    /// The publisher building k-line bars from ticks: a new stock subscriber's snapshot holds the
    /// bars it is building.
    let klines: KlinePublisher
    let tickRate = TickRate()
    let logger: Logger
    let startedAt = WallClock.microsecondsNow()
    /// The Prometheus registry behind `/metrics`; nil when metrics were not bootstrapped.
    let metrics: BrokerMetrics?
    /// The seed's K-line cache in Redis, when `redis_kline_key` and `redis_url` are set.
    let klineCache: RedisKlineCache?
    /// Finds a WebSocket client's address behind the configured trusted proxies.
    let clientAddresses: ClientAddressResolver
    /// Checks client tokens when `jwt_secret` is set; nil lets clients connect anonymously.
    let tokenVerifier: ClientTokenVerifier?
    /// Makes and checks the sessions' resume tokens.
    let resumeKey: ResumeKey
    /// The web pages allowed to use the broker from a browser; nil: no check (`allowed_origins`).
    let allowedOrigins: AllowedOrigins?
    private let readyStore = Mutex<EventStore?>(nil)
    private let shuttingDown = Atomic<Bool>(false)
    private let redisSource = Mutex<RedisTickSource?>(nil)
    private let redisBroadcaster = Mutex<RedisBroadcaster?>(nil)

    init(
        configuration: Configuration, logger: Logger, metrics: BrokerMetrics? = nil, tokenVerifier: ClientTokenVerifier? = nil,
        resumeKey: ResumeKey = .random()
    ) {
        self.configuration = configuration
        self.resumeKey = resumeKey
        self.logger = logger
        self.metrics = metrics
        self.tokenVerifier = tokenVerifier
        admissions = ConnectionAdmissions(limit: configuration.limits.maxClients, perAddress: configuration.limits.perAddress)
        clientAddresses = ClientAddressResolver(trustedProxies: configuration.auth.trustedProxies)
        allowedOrigins = AllowedOrigins(configuration.auth.allowedOrigins)
        let sink = OutboxSink(registry: registry, logger: logger, priceInterval: configuration.limits.priceInterval)
        self.sink = sink
        let klines = KlinePublisher()
        self.klines = klines
        self.publishers = PublisherHost(publishers: Self.publishers(klines: klines), sink: sink, logger: logger)
        if let pattern = configuration.redis.klineKey, let url = configuration.redis.url {
            klineCache = RedisKlineCache(url: url, keyPattern: pattern, logger: logger)
        } else {
            if configuration.redis.klineKey != nil {
                logger.warning("redis_kline_key is set but redis_url is not: the K-line cache is not read")
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

    /// The publisher sharing this node's ingest with the other nodes, when Redis is configured.
    var broadcaster: RedisBroadcaster? { redisBroadcaster.withLock { $0 } }

    func attachBroadcaster(_ broadcaster: RedisBroadcaster) {
        redisBroadcaster.withLock { $0 = broadcaster }
    }

    /// Hands what this node just journaled to the other nodes (through Redis, when configured).
    /// Call only after the command succeeded: nothing is shared that is not in this node's journal.
    /// Never waits: the update is queued, or dropped and counted when Redis is away.
    func share(_ update: SharedUpdate) {
        broadcaster?.offer(update)
    }

    /// Forgets a session that has no connection: journals its `session_expired`, after the
    /// removal of its alert rules when it is anonymous (nobody could reach them), which the other
    /// nodes are handed too. Throws the decider's refusal (unknown, still connected) or the journal's.
    @discardableResult
    func expireSession(_ clientID: String, in store: EventStore) async throws -> [RecordedEvent] {
        let recorded = try await store.execute(.expireSession(clientID: clientID))
        for event in recorded {
            if case .alertRuleRemoved(let removed) = event.event {
                share(.alertRuleRemoved(ruleID: removed.ruleID, user: removed.user))
            }
        }
        return recorded
    }

    var isShuttingDown: Bool { shuttingDown.load(ordering: .relaxed) }

    func beginShutdown() {
        shuttingDown.store(true, ordering: .relaxed)
    }

    /// The publishers this broker runs. Add yours here: one line.
    static func publishers(klines: KlinePublisher) -> [any Publisher] {
        [
            PricePublisher(),
            klines,
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
