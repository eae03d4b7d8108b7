import Publishers

/// One configuration setting and its names in the config file, the environment and the flags.
///
/// The raw value is the snake_case name; `BROKERD_<NAME>` and `--<name-with-dashes>` derive from it.
/// In the TOML file a setting lives under `table`, as `fileKey`.
public enum Setting: String, CaseIterable, Sendable {
    case host
    case port
    case journal
    case durability
    case journalCacheMiB = "journal_cache_mib"
    case snapshotInterval = "snapshot_interval"
    case heartbeatTimeout = "heartbeat_timeout"
    case resumeWindow = "resume_window"
    case shutdownDrain = "shutdown_drain"
    case nodeID = "node_id"
    case logLevel = "log_level"
    case logFormat = "log_format"
    case maxFrameBytes = "max_frame_bytes"
    case maxSubscriptionsPerClient = "max_subscriptions_per_client"
    case messagesPerSecond = "messages_per_second"
    case burst
    case maxClients = "max_clients"
    case maxClientsPerAddress = "max_clients_per_address"
    case addressConnectRate = "address_connect_rate"
    case addressConnectBurst = "address_connect_burst"
    case maxConnectionsPerUser = "max_connections_per_user"
    case outboundQueue = "outbound_queue"
    case slowConsumerTimeout = "slow_consumer_timeout"
    case priceInterval = "price_interval"
    case simulator
    case simulatorRate = "simulator_rate"
    case simulatorSignals = "simulator_signals"
    case redisURL = "redis_url"
    case redisSentinels = "redis_sentinels"
    case redisSentinelMaster = "redis_sentinel_master"
    case redisChannel = "redis_channel"
    case redisStream = "redis_stream"
    case redisKlineKey = "redis_kline_key"
    case redisLogLength = "redis_log_length"
    case redisAnswerWait = "redis_answer_wait"
    case redisHealthCheckInterval = "redis_health_check_interval"
    case redisSecret = "redis_secret"
    case redisSecretRequired = "redis_secret_required"
    case redisSecretAccepted = "redis_secret_accepted"
    case adminToken = "admin_token"
    case jwtSecret = "jwt_secret"
    case jwtPublicKey = "jwt_public_key"
    case jwtJWKSURL = "jwt_jwks_url"
    case jwtAudience = "jwt_audience"
    case jwtIssuer = "jwt_issuer"
    case trustedProxies = "trusted_proxies"
    case allowedOrigins = "allowed_origins"
    case publicDir = "public_dir"
    case websocketCompression = "websocket_compression"

    /// The snake_case name used in error messages for env and flag values.
    public var name: String { rawValue }

    /// The environment variable, e.g. `BROKERD_MAX_FRAME_BYTES`.
    public var environmentName: String { "BROKERD_" + rawValue.uppercased() }

    /// The long flag without its dashes, e.g. `max-frame-bytes`.
    public var flagName: String { rawValue.replacing("_", with: "-") }

    /// The TOML table holding the setting; nil for a top-level key.
    public var table: String? {
        switch self {
        case .host, .port, .journal, .durability, .journalCacheMiB, .snapshotInterval, .heartbeatTimeout, .resumeWindow, .shutdownDrain, .nodeID,
            .logLevel, .logFormat, .publicDir, .websocketCompression:
            nil
        case .maxFrameBytes, .maxSubscriptionsPerClient, .messagesPerSecond, .burst, .maxClients, .maxClientsPerAddress,
            .addressConnectRate, .addressConnectBurst, .maxConnectionsPerUser, .outboundQueue, .slowConsumerTimeout, .priceInterval:
            "limits"
        case .simulator, .simulatorRate, .simulatorSignals: "simulator"
        case .redisURL, .redisSentinels, .redisSentinelMaster, .redisChannel, .redisStream, .redisKlineKey, .redisLogLength, .redisAnswerWait, .redisHealthCheckInterval, .redisSecret, .redisSecretRequired, .redisSecretAccepted: "redis"
        case .adminToken, .jwtSecret, .jwtPublicKey, .jwtJWKSURL, .jwtAudience, .jwtIssuer, .trustedProxies, .allowedOrigins: "auth"
        }
    }

    /// The key inside `table`.
    public var fileKey: String {
        switch self {
        case .simulator: "enabled"
        case .simulatorRate: "rate"
        case .simulatorSignals: "signals"
        case .redisURL: "url"
        case .redisSentinels: "sentinels"
        case .redisSentinelMaster: "sentinel_master"
        case .redisChannel: "channel"
        case .redisStream: "stream"
        case .redisKlineKey: "kline_key"
        case .redisLogLength: "log_length"
        case .redisAnswerWait: "answer_wait"
        case .redisHealthCheckInterval: "health_check_interval"
        case .redisSecret: "secret"
        case .redisSecretRequired: "secret_required"
        case .redisSecretAccepted: "secret_accepted"
        default: rawValue
        }
    }

    /// The dotted path in the file, e.g. `limits.max_frame_bytes`.
    public var filePath: String { table.map { "\($0).\(fileKey)" } ?? fileKey }

    /// The tables the config file may contain.
    static let tables = ["limits", "simulator", "redis", "auth"]

    /// Values never echoed into error messages or logs.
    var isSecret: Bool { self == .adminToken || self == .jwtSecret || self == .redisSecret || self == .redisSecretAccepted }

    /// `value` for error messages: a secret not at all, a Redis URL (each sentinel's) without its credentials.
    func display(_ value: SettingValue) -> String {
        switch (self, value) {
        case (.redisURL, _): RedisURL.withoutCredentials(value.display(secret: false))
        case (.redisSentinels, .strings(let urls)): SettingValue.strings(urls.map(RedisURL.withoutCredentials)).display(secret: false)
        case (.redisSentinels, .text(let urls)):
            urls.split(separator: ",", omittingEmptySubsequences: false).map { RedisURL.withoutCredentials(String($0)) }.joined(separator: ",")
        default: value.display(secret: isSecret)
        }
    }

    /// What the setting does, for `--help`.
    var summary: String {
        switch self {
        case .host: "Address to listen on; 0.0.0.0 for all interfaces."
        case .port: "TCP port to listen on; 0 picks a free port."
        case .journal: "SQLite journal file."
        case .durability: "Journal commit durability: normal survives a crash, full also a power loss."
        case .journalCacheMiB:
            "SQLite's page cache of the journal's writer and of each of its readers (a resume's, a replay's), in MiB."
        case .snapshotInterval: "Events between two snapshots."
        case .heartbeatTimeout: "Seconds of client silence before the connection is closed."
        case .resumeWindow: "Seconds a disconnected session stays resumable; 0 disables resume."
        case .shutdownDrain:
            "Seconds over which a stopping broker closes its clients, refusing new ones, so they reconnect to other nodes a few at a time; 0 closes all at once."
        case .nodeID: "Name of this node in stats and across nodes."
        case .logLevel: "Lowest log level: trace, debug, info, notice, warning, error or critical."
        case .logFormat: "Log lines as text, or as json: one object per line, for log shippers."
        case .maxFrameBytes: "Largest WebSocket frame a client may send, in bytes."
        case .maxSubscriptionsPerClient: "Subscriptions one client may hold."
        case .messagesPerSecond: "Messages per second a client may send on average (token bucket rate)."
        case .burst: "Messages a client may send at once (token bucket capacity)."
        case .maxClients: "Connected clients at most."
        case .maxClientsPerAddress: "Connected clients from one address at most; 0 for no limit."
        case .addressConnectRate: "New connections per second one address may open on average; 0 for no limit."
        case .addressConnectBurst: "New connections one address may open at once (with address_connect_rate)."
        case .maxConnectionsPerUser: "Connections one user (a client token's sub) may hold at once; 0 for no limit."
        case .outboundQueue: "Messages queued per connection before a slow consumer is coalesced, then dropped."
        case .slowConsumerTimeout: "Seconds a client's socket may take nothing while messages wait; then it is a slow consumer."
        case .priceInterval:
            "Shortest time in seconds between two price updates of one subscription to a client; prices meanwhile are merged. 0 sends each at once."
        case .simulator: "Built-in tick simulator: on or off."
        case .simulatorRate: "Simulated ticks per second."
        case .simulatorSignals: "Signals file of the strategies and stocks the simulator trades; a file given must exist."
        case .redisURL:
            "Redis to share ticks with other nodes: redis://[[user]:password@]host[:port][/db], user and password percent-encoded; a reload moves every connection to another address (set or unset: a restart)."
        case .redisSentinels:
            "Comma-separated Redis Sentinels (redis://[[user]:password@]host:port) that say where the master is and announce its failovers; redis_url then gives its user, password and database."
        case .redisSentinelMaster: "The name the sentinels monitor the master under (with redis_sentinels)."
        case .redisChannel: "Redis pub/sub channel for ticks; nodes share news, alert rules, signal lists and bars on <channel>:news, :alerts, :signals, :klines and the stream <channel>:log."
        case .redisStream: "Redis stream to read ticks from as well."
        case .redisLogLength:
            "Entries the nodes' shared log (the stream <channel>:log) keeps, about; 0 shares over pub/sub alone, with no catch-up."
        case .redisKlineKey:
            "Key pattern of the seed's K-line cache ({code}, {period}), read for a new stock subscriber's snapshot."
        case .redisAnswerWait:
            "Seconds an operator's request about other nodes' sessions (a removal, a lookup) waits for the nodes' answers; a node slower than this is named as not answering."
        case .redisHealthCheckInterval:
            "Seconds between the checks of Redis: a quiet subscription PINGs, the publisher and the sentinel watcher ask the master its ROLE, the watcher asks every sentinel for its configuration."
        case .redisSecret:
            "Secret (32+ bytes) every node signs what it shares with (HMAC-SHA256) and checks what it reads against; the same on every node."
        case .redisSecretRequired:
            "With redis_secret: on takes a node's messages only when signed and stamped; off (while a cluster turns signing on) also takes them unsigned."
        case .redisSecretAccepted:
            "With redis_secret: one more secret (32+ bytes) whose signatures are taken too, not signed with; for rotating the secret."
        case .adminToken: "Bearer token the ingest and admin routes require."
        case .jwtSecret: "HS256 secret (32+ bytes) for client JWTs; without it (and jwt_public_key) clients are anonymous."
        case .jwtPublicKey: "PEM file of the token issuer's public keys (one or more): RSA 2048+ (RS256) or EC P-256 (ES256) client JWTs."
        case .jwtJWKSURL: "URL of the token issuer's JSON Web Key Set: RS256 and ES256 client JWTs naming a key (kid) are checked with its keys."
        case .jwtAudience: "Client JWTs must name this in aud."
        case .jwtIssuer: "Client JWTs must have this iss."
        case .trustedProxies: "Comma-separated proxy IPs whose X-Forwarded-For is believed."
        case .allowedOrigins: "Comma-separated origins of web pages that may connect and read the API from a browser; * for any."
        case .publicDir: "Directory of static files served at / (the live console)."
        case .websocketCompression: "WebSocket compression (permessage-deflate) for clients that offer it: on or off."
        }
    }

    /// The placeholder shown after the flag in `--help`.
    var valueName: String {
        switch self {
        case .host: "address"
        case .port: "port"
        case .journal, .simulatorSignals, .jwtPublicKey: "file"
        case .durability: "normal|full"
        case .heartbeatTimeout, .resumeWindow, .shutdownDrain, .slowConsumerTimeout, .priceInterval, .redisAnswerWait, .redisHealthCheckInterval: "seconds"
        case .nodeID: "id"
        case .logLevel: "level"
        case .logFormat: "text|json"
        case .maxFrameBytes: "bytes"
        case .journalCacheMiB: "MiB"
        case .messagesPerSecond, .simulatorRate, .addressConnectRate: "rate"
        case .simulator, .websocketCompression, .redisSecretRequired: "on|off"
        case .redisURL: "url"
        case .redisSentinels: "urls"
        case .redisSentinelMaster: "name"
        case .redisChannel: "channel"
        case .redisStream: "stream"
        case .redisKlineKey: "pattern"
        case .adminToken, .jwtSecret, .redisSecret, .redisSecretAccepted: "secret"
        case .jwtAudience: "audience"
        case .jwtJWKSURL: "url"
        case .jwtIssuer: "issuer"
        case .trustedProxies: "ips"
        case .allowedOrigins: "origins"
        case .publicDir: "directory"
        case .snapshotInterval, .maxSubscriptionsPerClient, .burst, .maxClients, .maxClientsPerAddress, .addressConnectBurst, .maxConnectionsPerUser,
            .outboundQueue, .redisLogLength:
            "count"
        }
    }

    /// The default as shown in `--help`, read off `Configuration()` so it cannot drift.
    var defaultDescription: String {
        let defaults = Configuration()
        switch self {
        case .host: return defaults.host
        case .port: return "\(defaults.port)"
        case .journal: return defaults.journalPath
        case .durability: return defaults.durability.rawValue
        case .journalCacheMiB: return "\(defaults.journalCacheMiB)"
        case .snapshotInterval: return "\(defaults.snapshotInterval)"
        case .heartbeatTimeout: return "\(defaults.heartbeatTimeout.components.seconds)"
        case .resumeWindow: return "\(defaults.resumeWindow.components.seconds)"
        case .shutdownDrain: return "0, all at once"
        case .nodeID: return "this host's name"
        case .logLevel: return defaults.logLevel.rawValue
        case .logFormat: return defaults.logFormat.rawValue
        case .maxFrameBytes: return "\(defaults.limits.maxFrameBytes)"
        case .maxSubscriptionsPerClient: return "\(defaults.limits.maxSubscriptionsPerClient)"
        case .messagesPerSecond: return "\(Int(defaults.limits.messagesPerSecond))"
        case .burst: return "\(defaults.limits.burst)"
        case .maxClients: return "\(defaults.limits.maxClients)"
        case .maxClientsPerAddress: return "0, no limit"
        case .addressConnectRate: return "0, no limit"
        case .addressConnectBurst: return "\(defaults.limits.perAddress.connectBurst)"
        case .maxConnectionsPerUser: return "0, no limit"
        case .outboundQueue: return "\(defaults.limits.outboundQueueCapacity)"
        case .slowConsumerTimeout: return "\(defaults.limits.slowConsumerTimeout.components.seconds)"
        case .priceInterval: return "0, each update at once"
        case .simulator: return defaults.simulator.isEnabled ? "on" : "off"
        case .simulatorRate: return "\(Int(defaults.simulator.ticksPerSecond))"
        case .simulatorSignals: return "\(SimulatedMarket.defaultPath) if it exists, else the built-in market"
        case .redisURL: return "none, no Redis"
        case .redisSentinels: return "none, redis_url is the master"
        case .redisSentinelMaster: return "none"
        case .redisChannel: return defaults.redis.channel
        case .redisStream: return "none"
        case .redisKlineKey: return "none, no cache lookups"
        case .redisLogLength: return "\(defaults.redis.logLength)"
        case .redisAnswerWait: return "\(defaults.redis.answerWait.components.seconds)"
        case .redisHealthCheckInterval: return "\(defaults.redis.healthCheckInterval.components.seconds)"
        case .redisSecret: return "none, messages not signed"
        case .redisSecretRequired: return defaults.redis.secretRequired ? "on" : "off"
        case .redisSecretAccepted: return "none"
        case .adminToken: return "none, routes open"
        case .jwtSecret: return "none"
        case .jwtPublicKey, .jwtJWKSURL: return "none"
        case .jwtAudience, .jwtIssuer: return "none, not checked"
        case .trustedProxies: return "none"
        case .allowedOrigins: return "none, no check"
        case .publicDir: return defaults.publicDirectory
        case .websocketCompression: return defaults.websocketCompression ? "on" : "off"
        }
    }

    /// The `--help` line: what it does, its default and its environment variable.
    var help: String { "\(summary) (default: \(defaultDescription); env: \(environmentName))" }
}
