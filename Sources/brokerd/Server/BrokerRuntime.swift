import Broker
import Journal
import Logging
import Publishers
import Synchronization

/// Everything the server's routes and sessions share: settings, the store once replay is done,
/// the live connections and the fan-out.
final class BrokerRuntime: Sendable {
    /// The configuration the broker started with: what only a restart changes is read here. The
    /// reloadable settings are read through `live` (`adminToken`, `tokenVerifier`…).
    let configuration: Configuration
    let registry = ConnectionRegistry()
    /// WebSocket connections admitted against `max_clients`, opening ones included.
    let admissions: ConnectionAdmissions
    /// Upgrades refused for the broker's or an address's connection limits, logged at most every 10 s.
    let admissionRefusals = ThrottledLog()
    /// Removals heard from other nodes too late to act on, and heartbeats too far from this
    /// node's clock, logged at most every 10 s per kind (anything that can PUBLISH to Redis can
    /// send them by the thousand).
    let staleMessages = ThrottledLog()
    let sink: OutboxSink
    let publishers: PublisherHost
    /// The publisher building k-line bars from ticks: a new stock subscriber's snapshot holds the
    /// bars it is building.
    let klines: KlinePublisher
    let tickRate = TickRate()
    /// The latest snapshot of each board a market subscriber got, which the next ones follow.
    let boards = BoardSnapshots()
    /// The other nodes sharing through Redis, by their heartbeats.
    let cluster = ClusterNodes()
    /// The other nodes' answers to the users' removals this node was asked for.
    let userRemovalAnswers = NodeAnswers<UserRemovalAnswer>()
    /// The other nodes' answers to the removals of sessions this node was asked for and did not have.
    let sessionRemovalAnswers = NodeAnswers<SessionRemovalAnswer>()
    /// The other nodes' answers to the lookups of sessions this node was asked for and did not have.
    let sessionLookupAnswers = NodeAnswers<SessionLookupAnswer>()
    let logger: Logger
    let startedAt = WallClock.microsecondsNow()
    /// How what is shared through Redis is signed and checked (`redis_secret`,
    /// `redis_secret_required`, `redis_secret_accepted`), as last reloaded.
    let sharedSecrets: SharedSecrets
    /// Where every Redis connection of the broker goes (`redis_url`, as last reloaded: a reload
    /// from one address to another moves them); nil without Redis.
    let redisAddress: RedisAddress?
    /// Follows the master through the sentinels and moves `redisAddress` with it; nil without
    /// `redis_sentinels`.
    let sentinel: RedisSentinelWatcher?
    /// The Prometheus registry behind `/metrics`; nil when metrics were not bootstrapped.
    let metrics: BrokerMetrics?
    /// The seed's K-line cache in Redis, when `redis_kline_key` and `redis_url` are set.
    let klineCache: RedisKlineCache?
    /// Makes and checks the sessions' resume tokens.
    let resumeKey: ResumeKey
    /// The level every logger of the process logs at, which a reload of `log_level` sets.
    let logLevels: LogLevelSwitch
    /// The format every logger of the process writes, which a reload of `log_format` sets.
    let logFormats: LogFormatSwitch
    /// The simulator's ticks per second, which a reload of `simulator_rate` sets.
    let simulatorRate: SimulatorRate
    /// Tells systemd how the broker is doing, when it runs as a `Type=notify` unit.
    let systemd: SystemdNotifier?
    /// The configuration's sources read again (file, environment, flags), for a reload; nil when
    /// the broker cannot reload (a runtime made by a test).
    private let source: (@Sendable () throws(ConfigurationError) -> Configuration)?
    private let live: Mutex<LiveSettings>
    let reloads = ConfigurationReloads()
    private let readyStore = Mutex<EventStore?>(nil)
    private let shuttingDown = Atomic<Bool>(false)
    private let draining = Atomic<Bool>(false)
    private let redisSource = Mutex<RedisTickSource?>(nil)
    private let redisBroadcaster = Mutex<RedisBroadcaster?>(nil)

    init(
        configuration: Configuration, logger: Logger, metrics: BrokerMetrics? = nil, tokenVerifier: ClientTokenVerifier? = nil,
        resumeKey: ResumeKey = .random(), logLevels: LogLevelSwitch? = nil, logFormats: LogFormatSwitch? = nil,
        systemd: SystemdNotifier? = nil,
        source: (@Sendable () throws(ConfigurationError) -> Configuration)? = nil
    ) {
        self.systemd = systemd
        self.configuration = configuration
        self.resumeKey = resumeKey
        self.logger = logger
        self.metrics = metrics
        self.logLevels = logLevels ?? LogLevelSwitch(configuration.logLevel)
        self.logFormats = logFormats ?? LogFormatSwitch(configuration.logFormat)
        simulatorRate = SimulatorRate(configuration.simulator.ticksPerSecond)
        self.source = source
        live = Mutex(LiveSettings(configuration: configuration, tokenVerifier: tokenVerifier))
        sharedSecrets = SharedSecrets(configuration.redis)
        let redisAddress = configuration.redis.url.map(RedisAddress.init)
        self.redisAddress = redisAddress
        if let redisAddress, let master = configuration.redis.sentinelMaster, !configuration.redis.sentinels.isEmpty {
            sentinel = RedisSentinelWatcher(
                sentinels: configuration.redis.sentinels, master: master, address: redisAddress,
                healthCheckInterval: configuration.redis.healthCheckInterval, node: configuration.nodeID, logger: logger)
        } else {
            sentinel = nil
        }
        admissions = ConnectionAdmissions(limit: configuration.limits.maxClients, perAddress: configuration.limits.perAddress)
        let sink = OutboxSink(registry: registry, logger: logger, priceInterval: configuration.limits.priceInterval)
        self.sink = sink
        let klines = KlinePublisher()
        self.klines = klines
        self.publishers = PublisherHost(publishers: Self.publishers(klines: klines), sink: sink, logger: logger)
        if let pattern = configuration.redis.klineKey, let url = configuration.redis.url {
            klineCache = RedisKlineCache(url: url, address: redisAddress, keyPattern: pattern, node: configuration.nodeID, logger: logger)
        } else {
            if configuration.redis.klineKey != nil {
                logger.warning("redis_kline_key is set but redis_url is not: the K-line cache is not read")
            }
            klineCache = nil
        }
    }

    /// The settings the broker runs with now: `configuration` with the reloadable settings of the last reload.
    var settings: LiveSettings { live.withLock { $0 } }

    /// Checks client tokens when `jwt_secret` or `jwt_public_key` is set; nil lets clients connect anonymously.
    var tokenVerifier: ClientTokenVerifier? { live.withLock { $0.tokenVerifier } }

    /// The web pages allowed to use the broker from a browser; nil: no check (`allowed_origins`).
    var allowedOrigins: AllowedOrigins? { live.withLock { $0.allowedOrigins } }

    /// Finds a WebSocket client's address behind the configured trusted proxies.
    var clientAddresses: ClientAddressResolver { live.withLock { $0.clientAddresses } }

    /// Bearer token the ingest and admin routes require; nil leaves them open.
    var adminToken: String? { live.withLock { $0.configuration.auth.adminToken } }

    /// The limits as last reloaded: a new connection's message rate, burst, frame size and
    /// outbound queue, subscriptions per client, the slow consumer timeout.
    var connectionLimits: Configuration.Limits { live.withLock { $0.configuration.limits } }

    /// The client silence after which a connection is closed, as last reloaded: a WebSocket
    /// client's at every sweep, an HTTP connection's between requests from its next connection.
    var heartbeatTimeout: Duration { live.withLock { $0.configuration.heartbeatTimeout } }

    /// How long a session that disconnects now stays resumable, as last reloaded
    /// (`resume_window`); a session already gone keeps the deadline journaled with its disconnect.
    var resumeWindowMicroseconds: Int64 { live.withLock { $0.configuration.resumeWindowMicroseconds } }

    /// How long a request handed to the other nodes waits for their answers, as last reloaded
    /// (`redis_answer_wait`).
    var answerWait: Duration { live.withLock { $0.configuration.redis.answerWait } }

    /// Reads the configuration's sources again and takes what changed of the reloadable settings
    /// (`Setting.isReloadable`), logging each; settings that need a restart are named in a
    /// warning and keep their running value. Sources that do not resolve change nothing: the
    /// error is logged and returned. One reload at a time, in the order they are asked for.
    func reload() async -> ReloadOutcome {
        systemd?.reloading()
        let outcome = await reloads.run { [self] in
            let at = WallClock.microsecondsNow()
            guard let source else { return ReloadOutcome(at: at, changes: Configuration.Changes(), error: nil) }
            let new: Configuration
            do throws(ConfigurationError) {
                new = try source()
            } catch {
                LabeledCounters.configReloads.increment("failed")
                logger.error(
                    "configuration not reloaded: the broker keeps the settings it runs with", metadata: ["error": "\(error)"])
                return ReloadOutcome(at: at, changes: nil, error: error)
            }
            let current = settings
            let changes = current.configuration.changes(to: new)
            let next = await current.reloaded(from: new, logger: logger)
            live.withLock { $0 = next }
            logLevels.value = next.configuration.logLevel
            logFormats.value = next.configuration.logFormat
            simulatorRate.ticksPerSecond = next.configuration.simulator.ticksPerSecond
            admissions.setLimit(next.configuration.limits.maxClients)
            if next.configuration.limits.perAddress != current.configuration.limits.perAddress {
                admissions.setPerAddress(
                    next.configuration.limits.perAddress,
                    held: registry.all.compactMap { connection in
                        connection.remoteAddress.map { (connection.writer.channelID, ClientAddressResolver.limitKey($0)) }
                    })
            }
            let (was, now) = (current.configuration.redis, next.configuration.redis)
            if was.secret != now.secret || was.secretRequired != now.secretRequired || was.secretAccepted != now.secretAccepted {
                sharedSecrets.replace(now)
            }
            // Only from one address to another (`reloaded(from:)`): every connection moves there.
            if let url = now.url, url != was.url { redisAddress?.move(to: url) }
            // Only from one length to another: the next append to the shared log trims to it.
            if now.logLength != was.logLength { broadcaster?.setLogLength(now.logLength) }
            // Only from one pattern to another: the next lookup uses it.
            if let pattern = now.klineKey, pattern != was.klineKey { klineCache?.setKeyPattern(pattern) }
            // Only while there are sentinels before and after: the watcher asks the new ones.
            if let master = now.sentinelMaster, now.sentinels != was.sentinels || master != was.sentinelMaster {
                sentinel?.watch(sentinels: now.sentinels, master: master)
            }
            if next.configuration.limits.priceInterval != current.configuration.limits.priceInterval {
                sink.setPriceInterval(next.configuration.limits.priceInterval)
            }
            // A store still replaying takes them when it is handed over (`BrokerService.startUp`).
            await store?.setLimits(brokerLimits)
            await store?.setSnapshotInterval(snapshotInterval)
            if let store { await applyJournalSettings(to: store.journal) }
            LabeledCounters.configReloads.increment("applied")
            Self.log(changes, from: current.configuration, to: next.configuration, logger: logger)
            return ReloadOutcome(at: at, changes: changes, error: nil)
        }
        systemd?.reloaded(outcome.succeeded ? "configuration reloaded" : "configuration not reloaded (the log says why): running as before")
        return outcome
    }

    private static func log(_ changes: Configuration.Changes, from old: Configuration, to new: Configuration, logger: Logger) {
        var metadata: Logger.Metadata = [:]
        for setting in changes.applied {
            let (before, after) = (old.shownValue(of: setting) ?? "none", new.shownValue(of: setting) ?? "none")
            // A secret replaced by another shows as "set -> set": say what happened instead.
            metadata[setting.name] = "\(before == after ? "changed" : "\(before) -> \(after)")"
        }
        logger.notice(
            changes.applied.isEmpty ? "configuration reloaded: no reloadable setting changed" : "configuration reloaded",
            metadata: metadata)
        if !changes.needRestart.isEmpty {
            logger.warning(
                "configuration reloaded: some changed settings apply only after a restart",
                metadata: ["settings": "\(changes.needRestart.map(\.name).joined(separator: ","))"])
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

    /// Whether the broker is closing its clients before it stops (`shutdown_drain`): it refuses
    /// new ones and says so in `/readyz`, and serves the others (ingest included) until they are closed.
    var isDraining: Bool { draining.load(ordering: .relaxed) }

    func beginDraining() {
        draining.store(true, ordering: .relaxed)
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

    /// Where this node is in its life, as its heartbeats tell the others (`GET /api/cluster`).
    var nodeState: NodeHeartbeat.State { isDraining ? .draining : .serving }

    /// This node's heartbeat now (`NodeHeartbeat`): what it tells the other nodes, and its own
    /// row of `GET /api/cluster`. The instance is the Redis publisher's (empty without Redis).
    func heartbeat(store: EventStore, state: NodeHeartbeat.State) async -> NodeHeartbeat {
        let (sessions, seq) = await store.read { ($0.clients.count, $0.lastSeq) }
        return NodeHeartbeat(
            origin: NodeOrigin(node: configuration.nodeID, instance: broadcaster?.origin.instance ?? ""), state: state,
            connections: registry.count, sessions: sessions, ticksPerSecond: tickRate.perSecond, journalSeq: seq,
            startedAt: startedAt, sentAt: WallClock.microsecondsNow())
    }

    /// Events between two snapshots, as last reloaded (`snapshot_interval`).
    var snapshotInterval: UInt64 { UInt64(live.withLock { $0.configuration.snapshotInterval }) }

    /// Gives the journal the durability and page cache size (`durability`, `journal_cache_mib`) as
    /// last reloaded; a failure (the journal closing) is logged, and the journal keeps what it had.
    func applyJournalSettings(to journal: Journal) async {
        let configuration = settings.configuration
        do {
            if configuration.durability != journal.durability { try await journal.setDurability(configuration.durability) }
            if configuration.journalCacheMiB != journal.cacheMiB { try await journal.setCacheMiB(configuration.journalCacheMiB) }
        } catch {
            logger.error(
                "the journal keeps its durability and page cache size: they could not be changed",
                metadata: [
                    "durability": "\(configuration.durability.rawValue)", "journal_cache_mib": "\(configuration.journalCacheMiB)", "error": "\(error)",
                ])
        }
    }

    /// The limits the decider enforces, from the configuration as last reloaded.
    var brokerLimits: Broker.Limits {
        var limits = Broker.Limits()
        limits.maxSubscriptionsPerClient = connectionLimits.maxSubscriptionsPerClient
        return limits
    }
}
