import Logging

extension Setting {
    /// Whether a running broker takes a new value of this setting when it reloads its
    /// configuration (SIGHUP, `POST /api/config/reload`). Each applies from the next request,
    /// upgrade or connection on; what is open keeps what it was given (a connection its rate, a
    /// session the user its token proved), except for `price_interval`, which reaches the open
    /// connections from their next price update, `durability` and `journal_cache_mib`, which the
    /// journal's writer takes from its next commit (and each reader opened after), `redis_url`, which moves every Redis
    /// connection to the new address when it changes from one address to another (set or unset,
    /// it starts or stops the sources: a restart; `Configuration.appliesAtReload`), and
    /// `redis_sentinels` and `redis_sentinel_master`, which the sentinel watcher asks from then on
    /// (while there are sentinels before and after), `redis_log_length`, which the next append to
    /// the shared log trims to (from one length to another), `redis_kline_key`, which the next
    /// lookup of the K-line cache uses (from one pattern to another), `simulator_rate`, which the simulator
    /// takes from its next round, and `log_level` and `log_format`, which every logger takes from
    /// its next line. The others need a restart: they shape the
    /// listener, the journal or the sources, or what is in the journal.
    var isReloadable: Bool {
        switch self {
        case .logLevel, .logFormat, .adminToken, .jwtSecret, .jwtPublicKey, .jwtJWKSURL, .jwtAudience, .jwtIssuer, .trustedProxies, .allowedOrigins, .maxClients,
            .messagesPerSecond, .burst, .maxSubscriptionsPerClient, .maxClientsPerAddress, .addressConnectRate, .addressConnectBurst, .maxConnectionsPerUser,
            .slowConsumerTimeout, .shutdownDrain, .heartbeatTimeout, .resumeWindow, .maxFrameBytes, .redisAnswerWait, .redisSecret, .redisSecretRequired,
            .redisSecretAccepted, .priceInterval, .snapshotInterval, .outboundQueue, .redisURL, .durability, .redisSentinels, .redisSentinelMaster,
            .simulatorRate, .journalCacheMiB, .redisLogLength, .redisKlineKey:
            true
        default:
            false
        }
    }
}

extension Configuration {
    /// What a reload finds in the configuration's sources (`new`) against this, the running
    /// configuration: the settings whose value changed, by whether they apply now.
    struct Changes: Sendable, Equatable {
        /// Changed, and applied by `reloaded(from:)`.
        var applied: [Setting] = []
        /// Changed in the sources, but running with the value they had at start-up until a restart.
        var needRestart: [Setting] = []
    }

    /// The settings whose value in `new` differs from this configuration's, in `Setting` order.
    func changes(to new: Configuration) -> Changes {
        var changes = Changes()
        for setting in Setting.allCases where value(of: setting) != new.value(of: setting) || changedUnseen(setting, in: new) {
            if appliesAtReload(setting, to: new) { changes.applied.append(setting) } else { changes.needRestart.append(setting) }
        }
        return changes
    }

    /// Whether a reload takes `new`'s value of `setting`: a reloadable one, but `redis_url` only
    /// from one address to another, and not while sentinels say where the master is (set where it
    /// was not, or unset, it would start or stop the Redis sources and the simulator: that needs a
    /// restart); the sentinels and their master's name only while there are sentinels before and
    /// after (set or unset, they start or stop the sentinel watcher); the shared log's length only
    /// from one length to another (0, no log, starts or stops writing and reading it), and the
    /// K-line cache's key only from one pattern to another (set or unset, it starts or stops
    /// reading the cache).
    func appliesAtReload(_ setting: Setting, to new: Configuration) -> Bool {
        guard setting.isReloadable else { return false }
        switch setting {
        case .redisURL: return (redis.url == nil) == (new.redis.url == nil) && redis.sentinels.isEmpty
        case .redisSentinels, .redisSentinelMaster: return !redis.sentinels.isEmpty && !new.redis.sentinels.isEmpty
        // From one length to another: 0 (no log) starts or stops writing and reading it.
        case .redisLogLength: return redis.sharedLogLength != nil && new.redis.logLength > 0
        // From one pattern to another: set or unset, it starts or stops reading the cache.
        case .redisKlineKey: return redis.url != nil && redis.klineKey != nil && new.redis.klineKey != nil
        default: return true
        }
    }

    /// Whether `setting` changed in a way its value's text does not tell: the file it names read
    /// anew and found changed (the issuer's public key, replaced at the same path to rotate it), a
    /// Redis password (left out of a URL's text).
    private func changedUnseen(_ setting: Setting, in new: Configuration) -> Bool {
        switch setting {
        case .jwtPublicKey: auth.jwtPublicKey != new.auth.jwtPublicKey
        case .redisURL: redis.url != new.redis.url
        case .redisSentinels: redis.sentinels != new.redis.sentinels
        default: false
        }
    }

    /// This configuration with the value of each reloadable setting taken from `new`; the others kept.
    func reloaded(from new: Configuration) -> Configuration {
        var next = self
        next.logLevel = new.logLevel
        next.logFormat = new.logFormat
        next.auth.adminToken = new.auth.adminToken
        next.auth.jwtSecret = new.auth.jwtSecret
        next.auth.jwtPublicKeyPath = new.auth.jwtPublicKeyPath
        next.auth.jwtPublicKey = new.auth.jwtPublicKey
        next.auth.jwtJWKSURL = new.auth.jwtJWKSURL
        next.auth.jwtAudience = new.auth.jwtAudience
        next.auth.jwtIssuer = new.auth.jwtIssuer
        next.auth.trustedProxies = new.auth.trustedProxies
        next.auth.allowedOrigins = new.auth.allowedOrigins
        next.limits.maxClients = new.limits.maxClients
        next.limits.messagesPerSecond = new.limits.messagesPerSecond
        next.limits.burst = new.limits.burst
        next.limits.maxSubscriptionsPerClient = new.limits.maxSubscriptionsPerClient
        next.limits.perAddress = new.limits.perAddress
        next.limits.maxConnectionsPerUser = new.limits.maxConnectionsPerUser
        next.limits.slowConsumerTimeout = new.limits.slowConsumerTimeout
        next.shutdownDrain = new.shutdownDrain
        next.heartbeatTimeout = new.heartbeatTimeout
        next.resumeWindow = new.resumeWindow
        next.limits.priceInterval = new.limits.priceInterval
        next.limits.outboundQueueCapacity = new.limits.outboundQueueCapacity
        next.snapshotInterval = new.snapshotInterval
        next.durability = new.durability
        next.journalCacheMiB = new.journalCacheMiB
        next.simulator.ticksPerSecond = new.simulator.ticksPerSecond
        next.limits.maxFrameBytes = new.limits.maxFrameBytes
        if appliesAtReload(.redisURL, to: new) { next.redis.url = new.redis.url }
        if appliesAtReload(.redisLogLength, to: new) { next.redis.logLength = new.redis.logLength }
        if appliesAtReload(.redisKlineKey, to: new) { next.redis.klineKey = new.redis.klineKey }
        if appliesAtReload(.redisSentinels, to: new) {
            next.redis.sentinels = new.redis.sentinels
            next.redis.sentinelMaster = new.redis.sentinelMaster
        }
        next.redis.answerWait = new.redis.answerWait
        next.redis.secret = new.redis.secret
        next.redis.secretRequired = new.redis.secretRequired
        next.redis.secretAccepted = new.redis.secretAccepted
        return next
    }

    /// The setting's value as a flag would give it; secrets included, so never show it: that is
    /// `shownValue(of:)`. Nil for an optional setting that is not set.
    func value(of setting: Setting) -> String? {
        switch setting {
        case .host: host
        case .port: "\(port)"
        case .journal: journalPath
        case .durability: durability.rawValue
        case .journalCacheMiB: "\(journalCacheMiB)"
        case .snapshotInterval: "\(snapshotInterval)"
        case .heartbeatTimeout: Self.seconds(heartbeatTimeout)
        case .resumeWindow: Self.seconds(resumeWindow)
        case .shutdownDrain: Self.seconds(shutdownDrain)
        case .nodeID: nodeID
        case .logLevel: logLevel.rawValue
        case .logFormat: logFormat.rawValue
        case .maxFrameBytes: "\(limits.maxFrameBytes)"
        case .maxSubscriptionsPerClient: "\(limits.maxSubscriptionsPerClient)"
        case .messagesPerSecond: limits.messagesPerSecond.plainText
        case .burst: "\(limits.burst)"
        case .maxClients: "\(limits.maxClients)"
        case .maxClientsPerAddress: "\(limits.perAddress.maxClients)"
        case .addressConnectRate: limits.perAddress.connectRate.plainText
        case .addressConnectBurst: "\(limits.perAddress.connectBurst)"
        case .maxConnectionsPerUser: "\(limits.maxConnectionsPerUser)"
        case .outboundQueue: "\(limits.outboundQueueCapacity)"
        case .slowConsumerTimeout: Self.seconds(limits.slowConsumerTimeout)
        case .priceInterval: Self.seconds(limits.priceInterval)
        case .simulator: simulator.isEnabled ? "on" : "off"
        case .simulatorRate: simulator.ticksPerSecond.plainText
        case .simulatorSignals: simulator.signalsPath
        case .redisURL: redis.url.map { "\($0)" }
        case .redisSentinels: redis.sentinels.isEmpty ? nil : redis.sentinels.map { "\($0)" }.joined(separator: ",")
        case .redisSentinelMaster: redis.sentinelMaster
        case .redisChannel: redis.channel
        case .redisStream: redis.stream
        case .redisKlineKey: redis.klineKey
        case .redisLogLength: "\(redis.logLength)"
        case .redisAnswerWait: Self.seconds(redis.answerWait)
        case .redisHealthCheckInterval: Self.seconds(redis.healthCheckInterval)
        case .redisSecret: redis.secret
        case .redisSecretRequired: redis.secretRequired ? "on" : "off"
        case .redisSecretAccepted: redis.secretAccepted
        case .adminToken: auth.adminToken
        case .jwtSecret: auth.jwtSecret
        case .jwtPublicKey: auth.jwtPublicKeyPath
        case .jwtJWKSURL: auth.jwtJWKSURL
        case .jwtAudience: auth.jwtAudience
        case .jwtIssuer: auth.jwtIssuer
        case .trustedProxies: auth.trustedProxies.joined(separator: ",")
        case .allowedOrigins: auth.allowedOrigins.joined(separator: ",")
        case .publicDir: publicDirectory
        case .websocketCompression: websocketCompression ? "on" : "off"
        }
    }

    /// The setting's value fit to show an operator: a secret only as `"set"`, a Redis URL without
    /// its password (`RedisURL.description`); nil when it is not set.
    func shownValue(of setting: Setting) -> String? {
        guard let value = value(of: setting) else { return nil }
        return setting.isSecret ? "set" : value
    }

    /// Seconds as the settings take them: `90`, `0.25`.
    private static func seconds(_ duration: Duration) -> String {
        (Double(duration.microseconds) / 1_000_000).plainText
    }
}
