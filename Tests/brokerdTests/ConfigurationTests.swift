import Foundation
import Publishers
import Testing

@testable import brokerd

@Suite("Configuration")
struct ConfigurationTests {
    // MARK: Precedence

    @Test("defaults apply when no flag, env variable or file is given")
    func defaultsWhenNothingGiven() throws {
        let configuration = try resolve()
        #expect(configuration == Configuration())
        #expect(configuration.host == "127.0.0.1")
        #expect(configuration.port == 8000)
        #expect(configuration.journalPath == "./data/journal.sqlite")
        #expect(configuration.heartbeatTimeout == .seconds(90))
        #expect(configuration.resumeWindow == .seconds(300))
        #expect(configuration.limits.messagesPerSecond == 20 && configuration.limits.burst == 40)
        #expect(configuration.auth.adminToken == nil)
        #expect(configuration.nodeID == Configuration.defaultNodeID)
    }

    @Test("the file overrides the defaults, top-level keys and tables alike")
    func fileOverridesDefaults() throws {
        let configuration = try resolve(file: """
            port = 9000
            [limits]
            max_frame_bytes = 1024
            [simulator]
            enabled = false
            [redis]
            url = "redis://cache:6379"
            [auth]
            trusted_proxies = ["10.0.0.1", "::1"]
            """)
        var expected = Configuration()
        expected.port = 9000
        expected.limits.maxFrameBytes = 1024
        expected.simulator.isEnabled = false
        expected.redis.url = RedisURL(host: "cache")
        expected.auth.trustedProxies = ["10.0.0.1", "::1"]
        #expect(configuration == expected)
    }

    @Test("an environment variable overrides the file")
    func environmentOverridesFile() throws {
        let configuration = try resolve(
            environment: ["BROKERD_PORT": "9100", "BROKERD_MAX_FRAME_BYTES": "2048"],
            file: "port = 9000\n[limits]\nmax_frame_bytes = 1024\nburst = 7\n")
        #expect(configuration.port == 9100)
        #expect(configuration.limits.maxFrameBytes == 2048)
        #expect(configuration.limits.burst == 7)
    }

    @Test("a flag overrides the environment")
    func flagsOverrideEnvironment() throws {
        let configuration = try resolve(
            flags: ["--port", "9200", "--admin-token", "from-flag"],
            environment: ["BROKERD_PORT": "9100", "BROKERD_ADMIN_TOKEN": "from-env", "BROKERD_JOURNAL": "/var/j.sqlite"],
            file: "port = 9000\n")
        #expect(configuration.port == 9200)
        #expect(configuration.auth.adminToken == "from-flag")
        #expect(configuration.journalPath == "/var/j.sqlite")
    }

    @Test("every setting can be given as an environment variable")
    func everySettingFromEnvironment() throws {
        let environment = Dictionary(uniqueKeysWithValues: Self.nonDefaultTexts.map { ($0.environmentName, $1) })
        #expect(Set(Self.nonDefaultTexts.keys) == Set(Setting.allCases))
        #expect(try resolve(environment: environment) == Self.nonDefaultConfiguration)
    }

    @Test("every setting can be given as a flag")
    func everySettingFromFlags() throws {
        let flags = Self.nonDefaultTexts.flatMap { ["--\($0.flagName)", $1] }
        #expect(try resolve(flags: flags) == Self.nonDefaultConfiguration)
    }

    @Test("env and flag text: on/off switches, comma-separated lists, case-insensitive choices")
    func textForms() throws {
        let configuration = try resolve(
            flags: ["--simulator", "off"],
            environment: ["BROKERD_TRUSTED_PROXIES": " 10.0.0.1, ::1 ,", "BROKERD_DURABILITY": "FULL"])
        #expect(configuration.simulator.isEnabled == false)
        #expect(configuration.auth.trustedProxies == ["10.0.0.1", "::1"])
        #expect(configuration.durability == .full)
    }

    @Test("fractional seconds are accepted for timeouts")
    func fractionalSeconds() throws {
        let configuration = try resolve(flags: ["--heartbeat-timeout", "0.5"], file: "resume_window = 1.5\n")
        #expect(configuration.heartbeatTimeout == .milliseconds(500))
        #expect(configuration.resumeWindow == .milliseconds(1500))
    }

    @Test("BROKERD_ variables that name no setting are reported for a warning, not rejected")
    func unrecognizedEnvironmentNamesReported() throws {
        let environment = ["BROKERD_PROT": "9000", "BROKERD_PORT": "9000", "BROKERD_CONFIG": "x", "HOME": "/root"]
        #expect(Configuration.unrecognizedEnvironmentNames(in: environment) == ["BROKERD_PROT"])
        #expect(try resolve(environment: ["BROKERD_PROT": "9000"]) == Configuration())
    }

    // MARK: The shipped file

    @Test("the shipped Config/brokerd.toml parses and holds exactly the defaults")
    func shippedFileEqualsDefaults() throws {
        let configuration = try resolve(file: try Self.shippedFile(), path: "Config/brokerd.toml")
        #expect(configuration == Configuration())
    }

    @Test("a signals file the simulator would read must exist, checked on the value that wins")
    func aMissingSignalsFileStopsStartUpOnlyWhenTheSimulatorWouldReadIt() throws {
        func load(_ flags: [String], environment: [String: String] = [:]) throws -> Configuration {
            try Configuration.load(flags: try ServeOptions.parse(["--config", Self.shippedConfigPath] + flags), environment: environment)
        }
        #expect(throws: ConfigurationError.invalidValue(
            setting: "simulator_signals", value: "/nonexistent/signals.json", source: .flag("--simulator-signals"), reason: "no such file")
        ) { try load(["--simulator-signals", "/nonexistent/signals.json"]) }
        #expect(throws: ConfigurationError.invalidValue(
            setting: "simulator_signals", value: "/nonexistent/s.json", source: .environment("BROKERD_SIMULATOR_SIGNALS"), reason: "no such file")
        ) { try load([], environment: ["BROKERD_SIMULATOR_SIGNALS": "/nonexistent/s.json"]) }
        // Overridden by a file that exists, or not read at all: no error.
        #expect(try load(["--simulator-signals", Self.shippedSignalsPath], environment: ["BROKERD_SIMULATOR_SIGNALS": "/nonexistent/s.json"])
            .simulator.signalsPath == Self.shippedSignalsPath)
        #expect(try load(["--simulator", "off", "--simulator-signals", "/nonexistent/signals.json"]).simulator.isEnabled == false)
    }

    @Test("sentinels come with the master's name and redis_url, checked on the values that win")
    func sentinelsNeedTheMastersNameAndARedisURL() throws {
        func load(_ flags: [String], environment: [String: String] = [:]) throws -> Configuration {
            try Configuration.load(flags: try ServeOptions.parse(["--config", Self.shippedConfigPath] + flags), environment: environment)
        }
        let sentinels = ["--redis-sentinels", "redis://:pw@10.0.0.5:26379,redis://10.0.0.6:26379"]
        #expect(throws: ConfigurationError.invalidValue(
            setting: "redis_sentinels", value: "redis://***@10.0.0.5:26379,redis://10.0.0.6:26379", source: .flag("--redis-sentinels"),
            reason: "needs redis_sentinel_master, the name the sentinels monitor the master under")
        ) { try load(sentinels + ["--redis-url", "redis://10.0.0.1"]) }
        #expect(throws: ConfigurationError.invalidValue(
            setting: "redis_sentinels", value: "redis://***@10.0.0.5:26379,redis://10.0.0.6:26379", source: .flag("--redis-sentinels"),
            reason: "needs redis_url: its user, password and database are the master's (its host and port serve until a sentinel answers)")
        ) { try load(sentinels, environment: ["BROKERD_REDIS_SENTINEL_MASTER": "mymaster"]) }
        #expect(throws: ConfigurationError.invalidValue(
            setting: "redis_sentinel_master", value: "mymaster", source: .environment("BROKERD_REDIS_SENTINEL_MASTER"),
            reason: "needs redis_sentinels, the sentinels to ask for it")
        ) { try load(["--redis-url", "redis://10.0.0.1"], environment: ["BROKERD_REDIS_SENTINEL_MASTER": "mymaster"]) }
        let configuration = try load(sentinels + ["--redis-url", "redis://:master-pw@10.0.0.1/3", "--redis-sentinel-master", "mymaster"])
        #expect(configuration.redis.sentinels == [RedisURL(host: "10.0.0.5", port: 26379, password: "pw"), RedisURL(host: "10.0.0.6", port: 26379)])
        #expect(configuration.redis.sentinelMaster == "mymaster")
        #expect(configuration.shownValue(of: .redisSentinels) == "redis://:***@10.0.0.5:26379/0,redis://10.0.0.6:26379/0")
    }

    @Test("the shipped file documents every setting with its env variable and flag")
    func shippedFileDocumentsEverySetting() throws {
        let text = try Self.shippedFile()
        for setting in Setting.allCases {
            #expect(text.contains("\(setting.fileKey) ="), "\(setting.filePath) missing")
            #expect(text.contains("(\(setting.environmentName), --\(setting.flagName))"), "\(setting) undocumented")
        }
    }

    @Test("serve --help shows every setting's flag, its env variable and its default")
    func helpShowsEverySetting() {
        let help = ServeOptions.helpMessage(columns: 1000)
        for setting in Setting.allCases {
            #expect(help.contains("--\(setting.flagName) <"), "\(setting) has no flag")
            #expect(help.contains("env: \(setting.environmentName))"), "\(setting) help lacks its env name")
        }
        #expect(help.contains("--config <file>") && help.contains("BROKERD_CONFIG"))
        #expect(help.contains("(default: 8000; env: BROKERD_PORT)"))
    }

    // MARK: Validation

    @Test(
        "an invalid value stops start-up with one line naming the setting, its source and why",
        arguments: [
            Rejection(
                environment: ["BROKERD_PORT": "70000"],
                message: "invalid setting port=70000 (from BROKERD_PORT): must be 0…65535"),
            Rejection(
                environment: ["BROKERD_PORT": "80a"],
                message: "invalid setting port=80a (from BROKERD_PORT): must be a whole number"),
            Rejection(
                flags: ["--heartbeat-timeout=-5"],
                message: "invalid setting heartbeat_timeout=-5 (from --heartbeat-timeout): must be greater than 0"),
            Rejection(
                flags: ["--redis-kline-key", "kline:latest"],
                message:
                    "invalid setting redis_kline_key=kline:latest (from --redis-kline-key): must contain {code} (and may contain {period}), e.g. kline:{code}:{period}"),
            Rejection(
                flags: ["--redis-sentinels", "redis://10.0.0.5:26379/1"],
                message: "invalid setting redis_sentinels=redis://10.0.0.5:26379/1 (from --redis-sentinels): redis://10.0.0.5:26379/1 names a database; a sentinel has none: leave /db out"),
            Rejection(
                flags: ["--redis-log-length", "-1"],
                message: "invalid setting redis_log_length=-1 (from --redis-log-length): must be 0…1000000000"),
            Rejection(
                environment: ["BROKERD_RESUME_WINDOW": "-1"],
                message: "invalid setting resume_window=-1 (from BROKERD_RESUME_WINDOW): must be at least 0"),
            Rejection(
                file: "port = 8000\ndurability = \"fast\"\n",
                message: "invalid setting durability=\"fast\" (from test.toml:2): must be one of normal, full"),
            Rejection(
                flags: ["--allowed-origins", "https://app.example.com,app.example.com"],
                message:
                    "invalid setting allowed_origins=https://app.example.com,app.example.com (from --allowed-origins): 'app.example.com' is not an origin: use scheme://host[:port] with http or https, or *"),
            Rejection(
                flags: ["--log-format", "yaml"],
                message: "invalid setting log_format=yaml (from --log-format): must be one of text, json"),
            Rejection(
                file: "port = \"8000\"\n",
                message: "invalid setting port=\"8000\" (from test.toml:1): must be an integer, not a string"),
            Rejection(
                file: "[auth]\ntrusted_proxies = \"10.0.0.1\"\n",
                message:
                    "invalid setting auth.trusted_proxies=\"10.0.0.1\" (from test.toml:2): must be an array of strings, not a string"),
            Rejection(
                environment: ["BROKERD_ADMIN_TOKEN": ""],
                message:
                    "invalid setting admin_token=\"\" (from BROKERD_ADMIN_TOKEN): must not be empty (leave the setting out instead)"
            ),
            Rejection(
                flags: ["--admin-token", "two words"],
                message:
                    "invalid setting admin_token=<redacted> (from --admin-token): must not contain spaces or control characters"
            ),
            Rejection(
                environment: ["BROKERD_JWT_SECRET": "short"],
                message:
                    "invalid setting jwt_secret=<redacted> (from BROKERD_JWT_SECRET): must be at least 32 bytes (an HS256 key is at least 256 bits); e.g. openssl rand -base64 48"
            ),
            Rejection(
                file: "[limits]\n\nmessages_per_second = 0\n",
                message: "invalid setting limits.messages_per_second=0 (from test.toml:3): must be greater than 0"),
            Rejection(
                file: "[limits]\nmax_clients_per_address = -1\n",
                message: "invalid setting limits.max_clients_per_address=-1 (from test.toml:2): must be at least 0"),
            Rejection(
                flags: ["--address-connect-rate", "-0.5"],
                message: "invalid setting address_connect_rate=-0.5 (from --address-connect-rate): must be at least 0"),
            Rejection(
                flags: ["--address-connect-rate", "1e-20"],
                message: "invalid setting address_connect_rate=1e-20 (from --address-connect-rate): must be 0 (no limit) or at least 0.001"),
            Rejection(
                environment: ["BROKERD_ADDRESS_CONNECT_BURST": "0"],
                message: "invalid setting address_connect_burst=0 (from BROKERD_ADDRESS_CONNECT_BURST): must be at least 1"),
            Rejection(
                flags: ["--simulator-rate", "0"],
                message: "invalid setting simulator_rate=0 (from --simulator-rate): must be greater than 0"),
            // Number flags are read by the same parser as env values: the same one line, and a
            // negative number is a value, not a flag.
            Rejection(flags: ["--port", "abc"], message: "invalid setting port=abc (from --port): must be a whole number"),
            Rejection(flags: ["--port", "-1"], message: "invalid setting port=-1 (from --port): must be 0…65535"),
            Rejection(
                flags: ["--heartbeat-timeout", "90s"],
                message: "invalid setting heartbeat_timeout=90s (from --heartbeat-timeout): must be a number"),
            // Less than a millisecond rounds to nothing where durations are kept in microseconds.
            Rejection(
                environment: ["BROKERD_HEARTBEAT_TIMEOUT": "0.0000001"],
                message:
                    "invalid setting heartbeat_timeout=0.0000001 (from BROKERD_HEARTBEAT_TIMEOUT): must be at least 0.001 (a millisecond)"),
            Rejection(
                environment: ["BROKERD_PRICE_INTERVAL": "61"],
                message: "invalid setting price_interval=61 (from BROKERD_PRICE_INTERVAL): must be at most 60 (a minute)"),
            Rejection(
                flags: ["--redis-health-check-interval", "0.05"],
                message: "invalid setting redis_health_check_interval=0.05 (from --redis-health-check-interval): must be from 0.1 to 60"),
            Rejection(
                environment: ["BROKERD_REDIS_HEALTH_CHECK_INTERVAL": "61"],
                message: "invalid setting redis_health_check_interval=61 (from BROKERD_REDIS_HEALTH_CHECK_INTERVAL): must be from 0.1 to 60"),
            Rejection(
                flags: ["--resume-window", "0.0001"],
                message: "invalid setting resume_window=0.0001 (from --resume-window): must be 0 or at least 0.001 (a millisecond)"),
            // Every connect records the node: one the journal would refuse stops the start instead.
            Rejection(
                flags: ["--node-id", String(repeating: "n", count: 65)],
                message: "invalid setting node_id=\(String(repeating: "n", count: 65)) (from --node-id): is 65 characters long, the limit is 64"),
            // A Redis password never reaches the error line.
            Rejection(
                environment: ["BROKERD_REDIS_URL": "redis://alice:hun@ter2@127.0.0.1:99999"],
                message:
                    "invalid setting redis_url=redis://***@127.0.0.1:99999 (from BROKERD_REDIS_URL): must be redis://host[:port][/db] (TCP; Unix sockets are not supported): the port must be a number from 1 to 65535"
            ),
            Rejection(
                flags: ["--redis-url", "redis://alice:50%zz@cache"],
                message:
                    "invalid setting redis_url=redis://***@cache (from --redis-url): must be redis://host[:port][/db] (TCP; Unix sockets are not supported): the password has a malformed percent escape (% and two hex digits of UTF-8; % itself is %25)"
            ),
            Rejection(
                environment: ["BROKERD_SIMULATOR": "maybe"],
                message: "invalid setting simulator=maybe (from BROKERD_SIMULATOR): must be on or off"),
            Rejection(
                environment: ["BROKERD_MAX_FRAME_BYTES": "0"],
                message: "invalid setting max_frame_bytes=0 (from BROKERD_MAX_FRAME_BYTES): must be 1…16777216"),
            Rejection(
                environment: ["BROKERD_LOG_LEVEL": "verbose"],
                message:
                    "invalid setting log_level=verbose (from BROKERD_LOG_LEVEL): must be one of trace, debug, info, notice, warning, error, critical"
            ),
            Rejection(
                environment: ["BROKERD_TRUSTED_PROXIES": "10.0.0.1,proxy.local"],
                message:
                    "invalid setting trusted_proxies=10.0.0.1,proxy.local (from BROKERD_TRUSTED_PROXIES): proxy.local is not an IP address (IPv4 or IPv6, no host names or ranges)"
            ),
            Rejection(
                file: "[redis]\nurl = \"cache:6379\"\n",
                message:
                    "invalid setting redis.url=\"cache:6379\" (from test.toml:2): must be redis://host[:port][/db] (TCP; Unix sockets are not supported): the scheme must be redis://"
            ),
            Rejection(
                flags: ["--redis-url", "unix:///run/redis.sock"],
                message:
                    "invalid setting redis_url=unix:///run/redis.sock (from --redis-url): must be redis://host[:port][/db] (TCP; Unix sockets are not supported): the scheme must be redis://"
            ),
            Rejection(
                file: "[auth]\ntrusted_proxies = [1, 2]\n",
                message:
                    "invalid setting auth.trusted_proxies=<array of non-strings> (from test.toml:2): must be an array of strings, not an array of non-strings"
            ),
            Rejection(
                file: "limits = 5\n",
                message:
                    "invalid setting limits=5 (from test.toml:1): must be a table: put [limits] on a line of its own, then its keys"
            ),
        ])
    func invalidValueIsRejected(rejection: Rejection) throws {
        let error = try #require(try rejected(rejection.flags, rejection.environment, rejection.file))
        #expect(error.description == rejection.message)
    }

    @Test("a Redis URL is parsed once, and shown without its password")
    func redisURLParsedAndRedacted() throws {
        let configuration = try resolve(flags: ["--redis-url", "redis://alice:hunter2@cache:6380/2"])
        let url = try #require(configuration.redis.url)
        #expect(url == RedisURL(host: "cache", port: 6380, database: 2, user: "alice", password: "hunter2"))
        #expect("\(url)" == "redis://alice:***@cache:6380/2")
        #expect(RedisURL.withoutCredentials("redis://:p/w@host:1") == "redis://***@host:1")
        #expect(RedisURL.withoutCredentials("redis://host:1/0") == "redis://host:1/0")
    }

    @Test("an invalid env value is rejected even when a flag overrides it")
    func overriddenInvalidValueStillRejected() throws {
        let error = try #require(try rejected(["--port", "9000"], ["BROKERD_PORT": "abc"], nil))
        #expect(error.setting == "port" && error.source == .environment("BROKERD_PORT"))
    }

    @Test("an unknown key in the file is rejected with its line and what the table takes")
    func unknownFileKeyRejected() throws {
        let error = try #require(try rejected([], [:], "port = 8000\n[limits]\nmax_frame_byte = 10\n"))
        #expect(error.setting == "limits.max_frame_byte")
        #expect(error.source == .file(path: "test.toml", line: 3))
        #expect(error.description.hasPrefix("unknown setting limits.max_frame_byte (from test.toml:3): "))
        #expect(error.description.contains("[limits] takes max_frame_bytes"))
    }

    @Test("a setting written in the wrong table is rejected with a pointer to the right one")
    func misplacedKeyRejected() throws {
        let error = try #require(try rejected([], [:], "admin_token = \"secret\"\n"))
        #expect(
            error.description
                == "unknown setting admin_token (from test.toml:1): not a brokerd setting here; did you mean auth.admin_token?")
    }

    @Test("an unknown table is rejected")
    func unknownTableRejected() throws {
        let error = try #require(try rejected([], [:], "[server]\nport = 1\n"))
        #expect(error.setting == "server")
        #expect(error.source == .file(path: "test.toml", line: 1))
    }

    @Test("a file that is not TOML is rejected with its line")
    func malformedFileRejected() throws {
        let error = try #require(try rejected([], [:], "port = 8000\nhost = \n"))
        guard case .malformedFile(let path, let line, _, _) = error else {
            Issue.record("expected malformedFile, got \(error)")
            return
        }
        #expect(path == "test.toml" && line == 2)
        #expect(error.description.hasPrefix("invalid config file test.toml:2:"))
    }

    // MARK: Finding the file

    @Test("an explicitly named config file that is missing is rejected, by flag or by env")
    func missingNamedFileRejected() throws {
        let byFlag = try ServeOptions.parse(["--config", "/nonexistent/brokerd.toml"])
        #expect(throws: ConfigurationError.missingFile(path: "/nonexistent/brokerd.toml", source: .flag("--config"))) {
            try Configuration.filePath(flags: byFlag, environment: [:], fileExists: { _ in false })
        }
        #expect(
            throws: ConfigurationError.missingFile(path: "/x.toml", source: .environment("BROKERD_CONFIG"))
        ) {
            try Configuration.filePath(
                flags: ServeOptions.parse([]), environment: ["BROKERD_CONFIG": "/x.toml"], fileExists: { _ in false })
        }
        #expect(
            ConfigurationError.missingFile(path: "/x.toml", source: .flag("--config")).description
                == "invalid setting config=/x.toml (from --config): no such file")
    }

    @Test("the default config file is read when present and silently skipped when absent")
    func defaultFileOptional() throws {
        #expect(try Configuration.filePath(flags: ServeOptions.parse([]), environment: [:], fileExists: { _ in false }) == nil)
        #expect(
            try Configuration.filePath(flags: ServeOptions.parse([]), environment: [:], fileExists: { _ in true })
                == "Config/brokerd.toml")
    }

    @Test("--config wins over BROKERD_CONFIG")
    func configFlagWinsOverEnvironment() throws {
        let flags = try ServeOptions.parse(["--config", "a.toml"])
        let path = try Configuration.filePath(
            flags: flags, environment: ["BROKERD_CONFIG": "b.toml"], fileExists: { _ in true })
        #expect(path == "a.toml")
    }

    @Test("load reads the named file from disk")
    func loadReadsNamedFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("brokerd-\(UUID().uuidString).toml")
        try "port = 9300\n".write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        let configuration = try Configuration.load(flags: ServeOptions.parse(["--config", url.path]), environment: [:])
        #expect(configuration.port == 9300)
    }
}

// MARK: - Fixtures

/// One invalid input and the exact line it must produce.
struct Rejection: Sendable, CustomTestStringConvertible {
    var flags: [String] = []
    var environment: [String: String] = [:]
    var file: String?
    var message: String

    var testDescription: String { message }
}

extension ConfigurationTests {
    /// A valid, non-default text for every setting, as env or flag would carry it.
    static let nonDefaultTexts: [Setting: String] = [
        .host: "0.0.0.0", .port: "9001", .journal: "/tmp/j.sqlite", .durability: "full", .journalCacheMiB: "8",
        .snapshotInterval: "500", .heartbeatTimeout: "30", .resumeWindow: "0", .shutdownDrain: "1.5", .nodeID: "node-a",
        .logLevel: "debug", .logFormat: "json", .maxFrameBytes: "4096", .maxSubscriptionsPerClient: "5", .messagesPerSecond: "2.5",
        .burst: "3", .maxClients: "10", .maxClientsPerAddress: "4", .addressConnectRate: "0.5", .addressConnectBurst: "6", .maxConnectionsPerUser: "3", .outboundQueue: "64", .slowConsumerTimeout: "2.5", .priceInterval: "0.01", .simulator: "off", .simulatorRate: "100",
        .simulatorSignals: Self.shippedSignalsPath,
        .redisURL: "redis://127.0.0.1:6379", .redisSentinels: "redis://10.0.0.5:26379,redis://:sentinel-pw@10.0.0.6:26380",
        .redisSentinelMaster: "mymaster", .redisChannel: "prices", .redisStream: "tick-stream",
        .redisKlineKey: "kline:{code}:{period}", .redisLogLength: "0", .redisAnswerWait: "2.5", .redisHealthCheckInterval: "1.5", .redisSecret: "a redis secret of at least 32 bytes", .redisSecretRequired: "off", .redisSecretAccepted: "the secret before it, 32 bytes or more", .adminToken: "s3cret", .jwtSecret: "a jwt secret of at least 32 bytes",
        .jwtPublicKey: "/etc/brokerd/issuer.pub.pem", .jwtJWKSURL: "https://auth.example.com/jwks.json", .jwtAudience: "brokerd", .jwtIssuer: "https://auth.example.com", .trustedProxies: "127.0.0.1,::1", .allowedOrigins: "https://app.example.com,*",
        .publicDir: "/srv/console", .websocketCompression: "off",
    ]

    /// What `nonDefaultTexts` resolves to.
    static var nonDefaultConfiguration: Configuration {
        var c = Configuration()
        c.host = "0.0.0.0"
        c.port = 9001
        c.journalPath = "/tmp/j.sqlite"
        c.durability = .full
        c.journalCacheMiB = 8
        c.snapshotInterval = 500
        c.heartbeatTimeout = .seconds(30)
        c.resumeWindow = .zero
        c.shutdownDrain = .milliseconds(1500)
        c.nodeID = "node-a"
        c.logLevel = .debug
        c.logFormat = .json
        c.limits.maxFrameBytes = 4096
        c.limits.maxSubscriptionsPerClient = 5
        c.limits.messagesPerSecond = 2.5
        c.limits.burst = 3
        c.limits.maxClients = 10
        c.limits.perAddress = .init(maxClients: 4, connectRate: 0.5, connectBurst: 6)
        c.limits.maxConnectionsPerUser = 3
        c.limits.outboundQueueCapacity = 64
        c.limits.slowConsumerTimeout = .milliseconds(2500)
        c.limits.priceInterval = .milliseconds(10)
        c.simulator.isEnabled = false
        c.simulator.ticksPerSecond = 100
        c.simulator.signalsPath = Self.shippedSignalsPath
        c.redis.url = RedisURL(host: "127.0.0.1")
        c.redis.sentinels = [RedisURL(host: "10.0.0.5", port: 26379), RedisURL(host: "10.0.0.6", port: 26380, password: "sentinel-pw")]
        c.redis.sentinelMaster = "mymaster"
        c.redis.channel = "prices"
        c.redis.stream = "tick-stream"
        c.redis.klineKey = "kline:{code}:{period}"
        c.redis.logLength = 0
        c.redis.answerWait = .milliseconds(2500)
        c.redis.healthCheckInterval = .milliseconds(1500)
        c.redis.secret = "a redis secret of at least 32 bytes"
        c.redis.secretRequired = false
        c.redis.secretAccepted = "the secret before it, 32 bytes or more"
        c.auth.adminToken = "s3cret"
        c.auth.jwtSecret = "a jwt secret of at least 32 bytes"
        c.auth.jwtPublicKeyPath = "/etc/brokerd/issuer.pub.pem"
        c.auth.jwtJWKSURL = "https://auth.example.com/jwks.json"
        c.auth.jwtAudience = "brokerd"
        c.auth.jwtIssuer = "https://auth.example.com"
        c.auth.trustedProxies = ["127.0.0.1", "::1"]
        c.auth.allowedOrigins = ["https://app.example.com", "*"]
        c.publicDirectory = "/srv/console"
        c.websocketCompression = false
        return c
    }

    /// The repository's `Config/brokerd.toml`, found relative to this file.
    /// The repository's `Config/signals.json`, absolute: a signals file that exists.
    static let shippedSignalsPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Config/signals.json").path

    /// The repository's `Config/brokerd.toml`, absolute.
    static let shippedConfigPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Config/brokerd.toml").path

    static func shippedFile() throws -> String {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try String(contentsOf: root.appendingPathComponent("Config/brokerd.toml"), encoding: .utf8)
    }

    func resolve(
        flags: [String] = [], environment: [String: String] = [:], file: String? = nil, path: String = "test.toml"
    ) throws -> Configuration {
        try Configuration.resolve(
            flags: ServeOptions.parse(flags), environment: environment, fileContents: file, filePath: path)
    }

    /// The error resolving these inputs throws, or nil (recorded as an issue) when they resolve.
    func rejected(_ flags: [String], _ environment: [String: String], _ file: String?) throws -> ConfigurationError? {
        let options = try ServeOptions.parse(flags)
        do {
            _ = try Configuration.resolve(
                flags: options, environment: environment, fileContents: file, filePath: "test.toml")
            Issue.record("resolved without error")
            return nil
        } catch {
            return error
        }
    }
}
