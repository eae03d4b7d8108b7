import Foundation
import Logging
import Publishers
import Synchronization
import Testing

@testable import brokerd

/// What a reload takes of the configuration's sources and what it leaves for a restart, and the
/// pieces it is made of (the log level switch, the order of reloads).
struct ConfigurationReloadTests {
    /// A value for every setting, none of them its default (`everySettingDiffersFromItsDefault`).
    static let changed = ConfigurationTests.nonDefaultTexts

    static func configuration(_ values: [Setting: String]) throws -> Configuration {
        var environment: [String: String] = [:]
        for (setting, value) in values { environment[setting.environmentName] = value }
        return try Configuration.resolve(flags: ServeOptions.parse([]), environment: environment, fileContents: nil, filePath: nil)
    }

    @Test func everySettingDiffersFromItsDefault() throws {
        let defaults = Configuration(), changed = try Self.configuration(Self.changed)
        for setting in Setting.allCases {
            #expect(Self.changed[setting] != nil, "no changed value for \(setting.name)")
            #expect(defaults.value(of: setting) != changed.value(of: setting), "\(setting.name)")
        }
    }

    @Test func aReloadTakesTheReloadableSettingsAndNoOther() throws {
        let running = Configuration(), new = try Self.configuration(Self.changed)
        let next = running.reloaded(from: new)
        // The default runs without Redis: a URL set by a reload would need a restart to start it,
        // and sentinels where there were none a restart to start asking them.
        let applies = { (setting: Setting) in
            setting.isReloadable && ![.redisURL, .redisSentinels, .redisSentinelMaster, .redisKlineKey, .redisLogLength].contains(setting)
        }
        for setting in Setting.allCases {
            let expected = applies(setting) ? new.value(of: setting) : running.value(of: setting)
            #expect(next.value(of: setting) == expected, "\(setting.name)")
        }
        let changes = running.changes(to: new)
        #expect(changes.applied == Setting.allCases.filter(applies))
        #expect(changes.needRestart == Setting.allCases.filter { !applies($0) })
        // Reloaded once, the sources differ from what runs only where a restart is needed.
        #expect(next.changes(to: new).applied.isEmpty)
        #expect(next.changes(to: new).needRestart == changes.needRestart)
        #expect(running.changes(to: running) == Configuration.Changes())
    }

    @Test func theRedisURLIsReloadedFromOneAddressToAnotherButNotSetOrUnset() throws {
        let running = try Self.configuration([.redisURL: "redis://10.0.0.1:6379"])
        let moved = try Self.configuration([.redisURL: "redis://:pw@10.0.0.2:7000/1"])
        #expect(running.changes(to: moved) == Configuration.Changes(applied: [.redisURL]))
        #expect(running.reloaded(from: moved).redis.url == RedisURL(host: "10.0.0.2", port: 7000, database: 1, password: "pw"))

        let unset = Configuration()
        #expect(running.changes(to: unset) == Configuration.Changes(needRestart: [.redisURL]))
        #expect(running.reloaded(from: unset).redis.url == running.redis.url)
        #expect(unset.changes(to: running) == Configuration.Changes(needRestart: [.redisURL]))
        #expect(unset.reloaded(from: running).redis.url == nil)

        // A password alone (left out of the URL's text) is a change too.
        let rotated = try Self.configuration([.redisURL: "redis://:pw2@10.0.0.2:7000/1"])
        #expect(moved.changes(to: rotated) == Configuration.Changes(applied: [.redisURL]))
        // Sentinels say where the master is: the URL waits for a restart.
        let followed = try Self.configuration([
            .redisURL: "redis://10.0.0.1:6379", .redisSentinels: "redis://10.0.0.9:26379", .redisSentinelMaster: "mymaster",
        ])
        var movedWithThem = moved
        movedWithThem.redis.sentinels = followed.redis.sentinels
        movedWithThem.redis.sentinelMaster = followed.redis.sentinelMaster
        #expect(followed.changes(to: movedWithThem) == Configuration.Changes(needRestart: [.redisURL]))
        #expect(followed.reloaded(from: movedWithThem).redis.url == followed.redis.url)
    }

    @Test func theSentinelsAreReloadedWhileThereAreSentinelsBeforeAndAfter() throws {
        let followed = try Self.configuration([
            .redisURL: "redis://10.0.0.1:6379", .redisSentinels: "redis://10.0.0.9:26379", .redisSentinelMaster: "mymaster",
        ])
        let others = try Self.configuration([
            .redisURL: "redis://10.0.0.1:6379", .redisSentinels: "redis://10.0.0.8:26379,redis://:pw@10.0.0.7:26380",
            .redisSentinelMaster: "othermaster",
        ])
        #expect(followed.changes(to: others) == Configuration.Changes(applied: [.redisSentinels, .redisSentinelMaster]))
        let next = followed.reloaded(from: others)
        #expect(next.redis.sentinels == others.redis.sentinels && next.redis.sentinelMaster == "othermaster")
        #expect(next.changes(to: others) == Configuration.Changes())

        // A sentinel's password alone (left out of the text) is a change too.
        var rotated = others
        rotated.redis.sentinels[1].password = "pw2"
        #expect(others.changes(to: rotated) == Configuration.Changes(applied: [.redisSentinels]))

        // Set where there were none, or unset: the watcher starts or stops, a restart.
        let direct = try Self.configuration([.redisURL: "redis://10.0.0.1:6379"])
        #expect(direct.changes(to: followed) == Configuration.Changes(needRestart: [.redisSentinels, .redisSentinelMaster]))
        #expect(direct.reloaded(from: followed).redis.sentinels.isEmpty && direct.reloaded(from: followed).redis.sentinelMaster == nil)
        #expect(followed.changes(to: direct) == Configuration.Changes(needRestart: [.redisSentinels, .redisSentinelMaster]))
        #expect(followed.reloaded(from: direct).redis.sentinels == followed.redis.sentinels)
        #expect(followed.reloaded(from: direct).redis.sentinelMaster == "mymaster")
    }

    @Test func theSharedLogsLengthIsReloadedFromOneLengthToAnother() throws {
        let running = try Self.configuration([.redisURL: "redis://10.0.0.1:6379"])
        let shorter = try Self.configuration([.redisURL: "redis://10.0.0.1:6379", .redisLogLength: "500"])
        let none = try Self.configuration([.redisURL: "redis://10.0.0.1:6379", .redisLogLength: "0"])
        #expect(running.changes(to: shorter) == Configuration.Changes(applied: [.redisLogLength]))
        #expect(running.reloaded(from: shorter).redis.logLength == 500)
        // No log where there was one, or one where there was none: a restart.
        #expect(running.changes(to: none) == Configuration.Changes(needRestart: [.redisLogLength]))
        #expect(running.reloaded(from: none).redis.logLength == 100_000)
        #expect(none.changes(to: shorter) == Configuration.Changes(needRestart: [.redisLogLength]))
        // Without Redis there is no log to trim.
        var withoutRedis = shorter
        withoutRedis.redis.url = nil
        #expect(Configuration().changes(to: withoutRedis) == Configuration.Changes(needRestart: [.redisLogLength]))
    }

    @Test func theKlineCachesKeyIsReloadedFromOnePatternToAnother() throws {
        let running = try Self.configuration([.redisURL: "redis://10.0.0.1:6379", .redisKlineKey: "kline:{code}:{period}"])
        let renamed = try Self.configuration([.redisURL: "redis://10.0.0.1:6379", .redisKlineKey: "bars:{period}:{code}"])
        let unset = try Self.configuration([.redisURL: "redis://10.0.0.1:6379"])
        #expect(running.changes(to: renamed) == Configuration.Changes(applied: [.redisKlineKey]))
        #expect(running.reloaded(from: renamed).redis.klineKey == "bars:{period}:{code}")
        #expect(running.changes(to: unset) == Configuration.Changes(needRestart: [.redisKlineKey]))
        #expect(running.reloaded(from: unset).redis.klineKey == "kline:{code}:{period}")
        #expect(unset.changes(to: running) == Configuration.Changes(needRestart: [.redisKlineKey]))
    }

    @Test func theReloadableSettingsAreTheOnesReadPerRequestOrConnection() {
        #expect(Setting.allCases.filter(\.isReloadable) == [
            .durability, .journalCacheMiB, .snapshotInterval, .heartbeatTimeout, .resumeWindow, .shutdownDrain, .logLevel, .logFormat, .maxFrameBytes, .maxSubscriptionsPerClient, .messagesPerSecond, .burst, .maxClients, .maxClientsPerAddress,
            .addressConnectRate, .addressConnectBurst, .maxConnectionsPerUser, .outboundQueue, .slowConsumerTimeout, .priceInterval, .simulatorRate, .redisURL, .redisSentinels, .redisSentinelMaster, .redisKlineKey, .redisLogLength, .redisAnswerWait, .redisSecret, .redisSecretRequired,
            .redisSecretAccepted, .adminToken, .jwtSecret, .jwtPublicKey, .jwtJWKSURL,
            .jwtAudience, .jwtIssuer, .trustedProxies, .allowedOrigins,
        ])
    }

    @Test func secretsAreShownOnlyAsSet() throws {
        let configuration = try Self.configuration(Self.changed)
        #expect(configuration.value(of: .adminToken) == "s3cret")
        #expect(configuration.shownValue(of: .adminToken) == "set")
        #expect(configuration.shownValue(of: .jwtSecret) == "set")
        #expect(Configuration().shownValue(of: .jwtSecret) == nil)
        #expect(configuration.shownValue(of: .shutdownDrain) == "1.5")
        #expect(configuration.shownValue(of: .allowedOrigins) == "https://app.example.com,*")
        let withPassword = try Self.configuration([.redisURL: "redis://:hunter2@127.0.0.1:7000"])
        #expect(withPassword.shownValue(of: .redisURL)?.contains("hunter2") == false)
    }

    @Test func everyLoggerFollowsTheSwitchUnlessItSetItsOwnLevel() {
        let levels = LogLevelSwitch(.info)
        let records = Records()
        let recorder = RecordingHandler(records: records)
        var quiet = Logger(label: "files") { _ in SwitchedLevelHandler(recorder, levels: levels) }
        quiet.logLevel = .warning
        let logger = Logger(label: "brokerd") { _ in SwitchedLevelHandler(recorder, levels: levels) }
        logger.debug("hidden")
        levels.value = .debug
        #expect(logger.logLevel == .debug)
        logger.debug("shown")
        quiet.info("quiet")
        levels.value = .error
        logger.warning("hidden too")
        logger.error("error")
        #expect(records.all == ["shown", "error"])
        #expect(quiet.logLevel == .warning)
    }

    @Test func everyLoggerWritesInTheSwitchsFormatWithItsMetadata() {
        let formats = LogFormatSwitch(.text)
        let (text, json) = (Records(), Records())
        var logger = Logger(label: "brokerd") { _ in
            SwitchedFormatHandler(
                text: RecordingHandler(records: text, withMetadata: true), json: RecordingHandler(records: json, withMetadata: true), formats: formats)
        }
        logger[metadataKey: "node"] = "edge-1"
        logger.info("one", metadata: ["n": "1"])
        formats.value = .json
        #expect(formats.value == .json)
        logger.info("two")
        formats.value = .text
        logger.info("three")
        #expect(text.all == ["one n=1 node=edge-1", "three node=edge-1"])
        #expect(json.all == ["two node=edge-1"])
    }

    @Test func reloadsRunOneAtATimeInTheOrderAsked() async {
        let reloads = ConfigurationReloads()
        let order = Mutex<[Int]>([])
        let slowStarted = AsyncStream<Void>.makeStream()
        async let slow = reloads.run {
            slowStarted.continuation.yield()
            try? await Task.sleep(for: .milliseconds(200))
            order.withLock { $0.append(1) }
            return ReloadOutcome(at: 1, changes: .init(), error: nil)
        }
        var started = slowStarted.stream.makeAsyncIterator()
        _ = await started.next()
        let fast = await reloads.run {
            order.withLock { $0.append(2) }
            return ReloadOutcome(at: 2, changes: nil, error: .missingFile(path: "x.toml", source: .flag("--config")))
        }
        _ = await slow
        #expect(order.withLock { $0 } == [1, 2])
        #expect(!fast.succeeded)
        let sofar = await reloads.sofar
        #expect(sofar.count == 2 && sofar.failures == 1 && sofar.latest?.at == 2)
    }
}

/// The messages its handlers were handed.
private final class Records: Sendable {
    private let messages = Mutex<[String]>([])
    var all: [String] { messages.withLock { $0 } }
    func append(_ message: String) { messages.withLock { $0.append(message) } }
}

/// Records the messages it is handed, whatever their level (the logger filters).
private struct RecordingHandler: LogHandler {
    let records: Records
    /// Whether a line is recorded with the metadata's `key=value` pairs after the message, sorted.
    var withMetadata = false
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard withMetadata else { return records.append(event.message.description) }
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }.map { "\($0.key)=\($0.value)" }.sorted()
        records.append(([event.message.description] + fields).joined(separator: " "))
    }
}
