#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Broker
import Foundation
import Journal
import Logging
import Publishers

extension Configuration {
    /// Resolves the configuration from flags, environment and file contents; flags > env > file > defaults.
    ///
    /// Pure: reads nothing but its arguments (and the host name for the default node id). Every value
    /// given is validated, including ones a higher-precedence source overrides, so a stale bad value
    /// is found rather than lurking; the first one found is thrown.
    /// - Parameters:
    ///   - flags: the parsed `brokerd serve` flags; `flags.config` is not read here.
    ///   - environment: the process environment; only `BROKERD_*` names matter.
    ///   - fileContents: the TOML config file's text, nil when there is no file.
    ///   - filePath: the file's path, for error messages.
    public static func resolve(
        flags: ServeOptions,
        environment: [String: String],
        fileContents: String?,
        filePath: String?
    ) throws(ConfigurationError) -> Configuration {
        var configuration = Configuration()
        if let fileContents {
            let entries = try ConfigurationFile.entries(in: fileContents, path: filePath ?? defaultFilePath)
            for entry in entries { try configuration.apply(entry) }
        }
        for setting in Setting.allCases {
            guard let text = environment[setting.environmentName] else { continue }
            try configuration.apply(
                SettingEntry(setting: setting, value: .text(text), source: .environment(setting.environmentName)))
        }
        for entry in flags.entries { try configuration.apply(entry) }
        return configuration
    }

    /// Sets one value, or throws the one-line error naming its setting and source.
    mutating func apply(_ entry: SettingEntry) throws(ConfigurationError) {
        do {
            try set(entry.setting, to: entry.value)
        } catch {
            throw .invalidValue(
                setting: entry.displayName,
                value: entry.setting.display(entry.value),
                source: entry.source,
                reason: error.reason)
        }
    }

    private mutating func set(_ setting: Setting, to value: SettingValue) throws(SettingRejection) {
        switch setting {
        case .host: host = try value.word()
        case .port: port = try value.integer(in: 0...65_535)
        case .journal: journalPath = try value.string()
        case .durability: durability = try value.choice(of: Durability.self)
        case .journalCacheMiB: journalCacheMiB = try value.integer(in: 1...65_536)
        case .snapshotInterval: snapshotInterval = try value.integer(in: 1...Int.max)
        case .heartbeatTimeout: heartbeatTimeout = try value.seconds(allowZero: false)
        case .resumeWindow: resumeWindow = try value.seconds(allowZero: true)
        case .shutdownDrain: shutdownDrain = try Self.shutdownDrain(value.seconds(allowZero: true))
        case .nodeID: nodeID = try Self.nodeID(value.word())
        case .logLevel: logLevel = try value.choice(of: Logger.Level.self)
        case .logFormat: logFormat = try value.choice(of: LogFormat.self)
        case .maxFrameBytes: limits.maxFrameBytes = try value.integer(in: 1...16_777_216)
        case .maxSubscriptionsPerClient: limits.maxSubscriptionsPerClient = try value.integer(in: 1...Int.max)
        case .messagesPerSecond: limits.messagesPerSecond = try value.number(above: 0, maximum: 1_000_000)
        case .burst: limits.burst = try value.integer(in: 1...Int.max)
        case .maxClients: limits.maxClients = try value.integer(in: 1...Int.max)
        case .maxClientsPerAddress: limits.perAddress.maxClients = try value.integer(in: 0...Int.max)
        case .addressConnectRate: limits.perAddress.connectRate = try Self.rateOrOff(value.number(above: 0, inclusive: true, maximum: 1_000_000))
        case .addressConnectBurst: limits.perAddress.connectBurst = try value.integer(in: 1...Int.max)
        case .maxConnectionsPerUser: limits.maxConnectionsPerUser = try value.integer(in: 0...Int.max)
        case .outboundQueue: limits.outboundQueueCapacity = try value.integer(in: 1...Int.max)
        case .slowConsumerTimeout: limits.slowConsumerTimeout = try value.seconds(allowZero: false)
        case .priceInterval: limits.priceInterval = try Self.priceInterval(value.seconds(allowZero: true))
        case .simulator: simulator.isEnabled = try value.boolean()
        case .simulatorRate: simulator.ticksPerSecond = try value.number(above: 0, maximum: 1_000_000)
        case .simulatorSignals: simulator.signalsPath = try value.string()
        case .redisURL: redis.url = try Self.redisURL(value.word())
        case .redisSentinels: redis.sentinels = try value.list().map(Self.sentinelURL)
        case .redisSentinelMaster: redis.sentinelMaster = try value.word()
        case .redisChannel: redis.channel = try value.word()
        case .redisStream: redis.stream = try value.word()
        case .redisKlineKey: redis.klineKey = try Self.klineKeyPattern(value.word())
        case .redisLogLength: redis.logLength = try value.integer(in: 0...1_000_000_000)
        case .redisAnswerWait: redis.answerWait = try Self.answerWait(value.seconds(allowZero: false))
        case .redisHealthCheckInterval: redis.healthCheckInterval = try Self.healthCheckInterval(value.seconds(allowZero: false))
        case .redisSecret: redis.secret = try Self.redisSecret(value.string())
        case .redisSecretRequired: redis.secretRequired = try value.boolean()
        case .redisSecretAccepted: redis.secretAccepted = try Self.redisSecret(value.string())
        case .adminToken: auth.adminToken = try value.word()
        case .jwtSecret: auth.jwtSecret = try Self.jwtSecret(value.string())
        case .jwtPublicKey: auth.jwtPublicKeyPath = try value.string()
        case .jwtJWKSURL: auth.jwtJWKSURL = try Self.jwksURL(value.word())
        case .jwtAudience: auth.jwtAudience = try value.word()
        case .jwtIssuer: auth.jwtIssuer = try value.word()
        case .trustedProxies: auth.trustedProxies = try Self.ipAddresses(value.list())
        case .allowedOrigins: auth.allowedOrigins = try Self.origins(value.list())
        case .publicDir: publicDirectory = try value.string()
        case .websocketCompression: websocketCompression = try value.boolean()
        }
    }

    /// Checked as every connect checks the node it is recorded on, so a node id the journal would
    /// refuse stops the broker before it starts, not each client after it listens.
    private static func nodeID(_ id: String) throws(SettingRejection) -> String {
        if let reason = FieldRules.identifierProblem(id, maxLength: Broker.Limits().maxTargetLength) { throw SettingRejection(reason) }
        return id
    }

    /// 0 (off) or at least 0.001 per second (one a quarter of an hour): less is no limit anyone means.
    private static func rateOrOff(_ rate: Double) throws(SettingRejection) -> Double {
        guard rate == 0 || rate >= 0.001 else { throw SettingRejection("must be 0 (no limit) or at least 0.001") }
        return rate
    }

    /// An http or https URL with a host.
    private static func jwksURL(_ text: String) throws(SettingRejection) -> String {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased()), url.host?.isEmpty == false else {
            throw SettingRejection("must be an http or https URL, e.g. https://auth.example.com/.well-known/jwks.json")
        }
        return text
    }

    /// At most ten minutes: a stop that takes longer is one no service manager waits for.
    private static func shutdownDrain(_ drain: Duration) throws(SettingRejection) -> Duration {
        guard drain <= .seconds(600) else { throw SettingRejection("must be at most 600 (ten minutes)") }
        return drain
    }

    /// At most a minute: an operator's request is an HTTP request, which proxies time out.
    private static func answerWait(_ wait: Duration) throws(SettingRejection) -> Duration {
        guard wait <= .seconds(60) else { throw SettingRejection("must be at most 60 (a minute)") }
        return wait
    }

    /// From a tenth of a second (more often is a PING storm, not a check) to a minute (a failover
    /// unnoticed for longer is an outage).
    private static func healthCheckInterval(_ interval: Duration) throws(SettingRejection) -> Duration {
        guard interval >= .milliseconds(100), interval <= .seconds(60) else { throw SettingRejection("must be from 0.1 to 60") }
        return interval
    }

    /// At most a minute: prices held longer than that are no longer live.
    private static func priceInterval(_ interval: Duration) throws(SettingRejection) -> Duration {
        guard interval <= .seconds(60) else { throw SettingRejection("must be at most 60 (a minute)") }
        return interval
    }

    private static func origins(_ entries: [String]) throws(SettingRejection) -> [String] {
        if let problem = entries.lazy.compactMap(AllowedOrigins.problem).first { throw SettingRejection(problem) }
        return entries
    }

    /// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output, 256 bits.
    static let minimumJWTSecretBytes = 32

    private static func jwtSecret(_ secret: String) throws(SettingRejection) -> String {
        guard secret.utf8.count >= minimumJWTSecretBytes else {
            throw SettingRejection(
                "must be at least \(minimumJWTSecretBytes) bytes (an HS256 key is at least 256 bits); e.g. openssl rand -base64 48")
        }
        return secret
    }

    /// As long as the HMAC-SHA256 output (RFC 2104 §3), as a client token's secret.
    private static func redisSecret(_ secret: String) throws(SettingRejection) -> String {
        guard secret.utf8.count >= SharedMessageSigner.minimumSecretBytes else {
            throw SettingRejection("must be at least \(SharedMessageSigner.minimumSecretBytes) bytes; e.g. openssl rand -base64 48")
        }
        return secret
    }

    /// A sentinel's address: a Redis URL without a database (a sentinel has none).
    private static func sentinelURL(_ url: String) throws(SettingRejection) -> RedisURL {
        let parsed = try redisURL(url)
        guard parsed.database == 0 else { throw SettingRejection("\(parsed) names a database; a sentinel has none: leave /db out") }
        return parsed
    }

    /// Parsed as the Redis connections will parse it, so a URL they cannot use stops the broker
    /// before it starts, not after it listens.
    private static func redisURL(_ url: String) throws(SettingRejection) -> RedisURL {
        do {
            return try RedisURL(parsing: url)
        } catch {
            guard case .invalidURL(_, let reason) = error else { throw SettingRejection("must be redis://host[:port][/db]") }
            throw SettingRejection("must be redis://host[:port][/db] (TCP; Unix sockets are not supported): \(reason)")
        }
    }

    private static func klineKeyPattern(_ pattern: String) throws(SettingRejection) -> String {
        guard pattern.contains("{code}") else {
            throw SettingRejection("must contain {code} (and may contain {period}), e.g. kline:{code}:{period}")
        }
        return pattern
    }

    private static func ipAddresses(_ addresses: [String]) throws(SettingRejection) -> [String] {
        for address in addresses where !isIPAddress(address) {
            throw SettingRejection("\(address) is not an IP address (IPv4 or IPv6, no host names or ranges)")
        }
        return addresses
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var buffer = (UInt64(0), UInt64(0))
        return withUnsafeMutableBytes(of: &buffer) { bytes in
            inet_pton(AF_INET, text, bytes.baseAddress) == 1 || inet_pton(AF_INET6, text, bytes.baseAddress) == 1
        }
    }
}
