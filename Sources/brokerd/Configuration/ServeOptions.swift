import ArgumentParser

/// The `brokerd serve` flags: one per setting, each nil unless given, so env and file values show through.
///
/// Every flag is taken as text and read by the same parser as environment values, so a bad number
/// gets the same one-line error from either (`--port abc`, `BROKERD_PORT=abc`); numbers take their
/// value unconditionally, so `--port -1` is refused as a port rather than read as a flag.
///
/// Resolve them with `Configuration.load(flags:)` (or the pure `Configuration.resolve`); flags win over
/// `BROKERD_*` environment variables, which win over the config file, which wins over the defaults.
public struct ServeOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("config"),
        help: ArgumentHelp(
            "TOML config file; a named file must exist (default: \(Configuration.defaultFilePath) if it exists; env: BROKERD_CONFIG).",
            valueName: "file"))
    public var config: String?

    @Option(name: .customLong(Setting.host.flagName), help: Setting.host.argumentHelp)
    public var host: String?

    @Option(name: .customLong(Setting.port.flagName), parsing: .unconditional, help: Setting.port.argumentHelp)
    public var port: String?

    @Option(name: .customLong(Setting.journal.flagName), help: Setting.journal.argumentHelp)
    public var journal: String?

    @Option(name: .customLong(Setting.durability.flagName), help: Setting.durability.argumentHelp)
    public var durability: String?

    @Option(name: .customLong(Setting.journalCacheMiB.flagName), parsing: .unconditional, help: Setting.journalCacheMiB.argumentHelp)
    public var journalCacheMiB: String?

    @Option(name: .customLong(Setting.snapshotInterval.flagName), parsing: .unconditional, help: Setting.snapshotInterval.argumentHelp)
    public var snapshotInterval: String?

    @Option(name: .customLong(Setting.heartbeatTimeout.flagName), parsing: .unconditional, help: Setting.heartbeatTimeout.argumentHelp)
    public var heartbeatTimeout: String?

    @Option(name: .customLong(Setting.resumeWindow.flagName), parsing: .unconditional, help: Setting.resumeWindow.argumentHelp)
    public var resumeWindow: String?

    @Option(name: .customLong(Setting.shutdownDrain.flagName), parsing: .unconditional, help: Setting.shutdownDrain.argumentHelp)
    public var shutdownDrain: String?

    @Option(name: .customLong(Setting.nodeID.flagName), help: Setting.nodeID.argumentHelp)
    public var nodeID: String?

    @Option(name: .customLong(Setting.logLevel.flagName), help: Setting.logLevel.argumentHelp)
    public var logLevel: String?

    @Option(name: .customLong(Setting.logFormat.flagName), help: Setting.logFormat.argumentHelp)
    public var logFormat: String?

    @Option(name: .customLong(Setting.maxFrameBytes.flagName), parsing: .unconditional, help: Setting.maxFrameBytes.argumentHelp)
    public var maxFrameBytes: String?

    @Option(
        name: .customLong(Setting.maxSubscriptionsPerClient.flagName),
        parsing: .unconditional, help: Setting.maxSubscriptionsPerClient.argumentHelp)
    public var maxSubscriptionsPerClient: String?

    @Option(name: .customLong(Setting.messagesPerSecond.flagName), parsing: .unconditional, help: Setting.messagesPerSecond.argumentHelp)
    public var messagesPerSecond: String?

    @Option(name: .customLong(Setting.burst.flagName), parsing: .unconditional, help: Setting.burst.argumentHelp)
    public var burst: String?

    @Option(name: .customLong(Setting.maxClients.flagName), parsing: .unconditional, help: Setting.maxClients.argumentHelp)
    public var maxClients: String?

    @Option(
        name: .customLong(Setting.maxClientsPerAddress.flagName), parsing: .unconditional, help: Setting.maxClientsPerAddress.argumentHelp)
    public var maxClientsPerAddress: String?

    @Option(
        name: .customLong(Setting.addressConnectRate.flagName), parsing: .unconditional, help: Setting.addressConnectRate.argumentHelp)
    public var addressConnectRate: String?

    @Option(
        name: .customLong(Setting.addressConnectBurst.flagName), parsing: .unconditional, help: Setting.addressConnectBurst.argumentHelp)
    public var addressConnectBurst: String?

    @Option(
        name: .customLong(Setting.maxConnectionsPerUser.flagName), parsing: .unconditional, help: Setting.maxConnectionsPerUser.argumentHelp)
    public var maxConnectionsPerUser: String?

    @Option(name: .customLong(Setting.outboundQueue.flagName), parsing: .unconditional, help: Setting.outboundQueue.argumentHelp)
    public var outboundQueue: String?

    @Option(
        name: .customLong(Setting.slowConsumerTimeout.flagName), parsing: .unconditional, help: Setting.slowConsumerTimeout.argumentHelp)
    public var slowConsumerTimeout: String?

    @Option(name: .customLong(Setting.priceInterval.flagName), parsing: .unconditional, help: Setting.priceInterval.argumentHelp)
    public var priceInterval: String?

    @Option(name: .customLong(Setting.simulator.flagName), help: Setting.simulator.argumentHelp)
    public var simulator: String?

    @Option(name: .customLong(Setting.simulatorRate.flagName), parsing: .unconditional, help: Setting.simulatorRate.argumentHelp)
    public var simulatorRate: String?

    @Option(name: .customLong(Setting.simulatorSignals.flagName), help: Setting.simulatorSignals.argumentHelp)
    public var simulatorSignals: String?

    @Option(name: .customLong(Setting.redisURL.flagName), help: Setting.redisURL.argumentHelp)
    public var redisURL: String?

    @Option(name: .customLong(Setting.redisSentinels.flagName), help: Setting.redisSentinels.argumentHelp)
    public var redisSentinels: String?

    @Option(name: .customLong(Setting.redisSentinelMaster.flagName), help: Setting.redisSentinelMaster.argumentHelp)
    public var redisSentinelMaster: String?

    @Option(name: .customLong(Setting.redisChannel.flagName), help: Setting.redisChannel.argumentHelp)
    public var redisChannel: String?

    @Option(name: .customLong(Setting.redisStream.flagName), help: Setting.redisStream.argumentHelp)
    public var redisStream: String?

    @Option(name: .customLong(Setting.redisKlineKey.flagName), help: Setting.redisKlineKey.argumentHelp)
    public var redisKlineKey: String?

    @Option(name: .customLong(Setting.redisLogLength.flagName), parsing: .unconditional, help: Setting.redisLogLength.argumentHelp)
    public var redisLogLength: String?

    @Option(name: .customLong(Setting.redisAnswerWait.flagName), parsing: .unconditional, help: Setting.redisAnswerWait.argumentHelp)
    public var redisAnswerWait: String?

    @Option(name: .customLong(Setting.redisHealthCheckInterval.flagName), parsing: .unconditional, help: Setting.redisHealthCheckInterval.argumentHelp)
    public var redisHealthCheckInterval: String?

    @Option(name: .customLong(Setting.redisSecret.flagName), help: Setting.redisSecret.argumentHelp)
    public var redisSecret: String?

    @Option(name: .customLong(Setting.redisSecretRequired.flagName), help: Setting.redisSecretRequired.argumentHelp)
    public var redisSecretRequired: String?

    @Option(name: .customLong(Setting.redisSecretAccepted.flagName), help: Setting.redisSecretAccepted.argumentHelp)
    public var redisSecretAccepted: String?

    @Option(name: .customLong(Setting.adminToken.flagName), help: Setting.adminToken.argumentHelp)
    public var adminToken: String?

    @Option(name: .customLong(Setting.jwtSecret.flagName), help: Setting.jwtSecret.argumentHelp)
    public var jwtSecret: String?

    @Option(name: .customLong(Setting.jwtPublicKey.flagName), help: Setting.jwtPublicKey.argumentHelp)
    public var jwtPublicKey: String?

    @Option(name: .customLong(Setting.jwtJWKSURL.flagName), help: Setting.jwtJWKSURL.argumentHelp)
    public var jwtJWKSURL: String?

    @Option(name: .customLong(Setting.jwtAudience.flagName), help: Setting.jwtAudience.argumentHelp)
    public var jwtAudience: String?

    @Option(name: .customLong(Setting.jwtIssuer.flagName), help: Setting.jwtIssuer.argumentHelp)
    public var jwtIssuer: String?

    @Option(name: .customLong(Setting.trustedProxies.flagName), help: Setting.trustedProxies.argumentHelp)
    public var trustedProxies: String?

    @Option(name: .customLong(Setting.allowedOrigins.flagName), help: Setting.allowedOrigins.argumentHelp)
    public var allowedOrigins: String?

    @Option(name: .customLong(Setting.publicDir.flagName), help: Setting.publicDir.argumentHelp)
    public var publicDir: String?

    @Option(name: .customLong(Setting.websocketCompression.flagName), help: Setting.websocketCompression.argumentHelp)
    public var websocketCompression: String?

    /// Required by ArgumentParser; its properties are unset until parsed, so use `ServeOptions.parse([])`
    /// for a value with no flags given.
    public init() {}

    /// The flags that were given, as setting entries.
    var entries: [SettingEntry] {
        let given: [(Setting, SettingValue?)] = [
            (.host, host.map(SettingValue.text)),
            (.port, port.map(SettingValue.text)),
            (.journal, journal.map(SettingValue.text)),
            (.durability, durability.map(SettingValue.text)),
            (.journalCacheMiB, journalCacheMiB.map(SettingValue.text)),
            (.snapshotInterval, snapshotInterval.map(SettingValue.text)),
            (.heartbeatTimeout, heartbeatTimeout.map(SettingValue.text)),
            (.resumeWindow, resumeWindow.map(SettingValue.text)),
            (.shutdownDrain, shutdownDrain.map(SettingValue.text)),
            (.nodeID, nodeID.map(SettingValue.text)),
            (.logLevel, logLevel.map(SettingValue.text)),
            (.logFormat, logFormat.map(SettingValue.text)),
            (.maxFrameBytes, maxFrameBytes.map(SettingValue.text)),
            (.maxSubscriptionsPerClient, maxSubscriptionsPerClient.map(SettingValue.text)),
            (.messagesPerSecond, messagesPerSecond.map(SettingValue.text)),
            (.burst, burst.map(SettingValue.text)),
            (.maxClients, maxClients.map(SettingValue.text)),
            (.maxClientsPerAddress, maxClientsPerAddress.map(SettingValue.text)),
            (.addressConnectRate, addressConnectRate.map(SettingValue.text)),
            (.addressConnectBurst, addressConnectBurst.map(SettingValue.text)),
            (.maxConnectionsPerUser, maxConnectionsPerUser.map(SettingValue.text)),
            (.outboundQueue, outboundQueue.map(SettingValue.text)),
            (.slowConsumerTimeout, slowConsumerTimeout.map(SettingValue.text)),
            (.priceInterval, priceInterval.map(SettingValue.text)),
            (.simulator, simulator.map(SettingValue.text)),
            (.simulatorRate, simulatorRate.map(SettingValue.text)),
            (.simulatorSignals, simulatorSignals.map(SettingValue.text)),
            (.redisURL, redisURL.map(SettingValue.text)),
            (.redisSentinels, redisSentinels.map(SettingValue.text)),
            (.redisSentinelMaster, redisSentinelMaster.map(SettingValue.text)),
            (.redisChannel, redisChannel.map(SettingValue.text)),
            (.redisStream, redisStream.map(SettingValue.text)),
            (.redisKlineKey, redisKlineKey.map(SettingValue.text)),
            (.redisLogLength, redisLogLength.map(SettingValue.text)),
            (.redisAnswerWait, redisAnswerWait.map(SettingValue.text)),
            (.redisHealthCheckInterval, redisHealthCheckInterval.map(SettingValue.text)),
            (.redisSecret, redisSecret.map(SettingValue.text)),
            (.redisSecretRequired, redisSecretRequired.map(SettingValue.text)),
            (.redisSecretAccepted, redisSecretAccepted.map(SettingValue.text)),
            (.adminToken, adminToken.map(SettingValue.text)),
            (.jwtSecret, jwtSecret.map(SettingValue.text)),
            (.jwtPublicKey, jwtPublicKey.map(SettingValue.text)),
            (.jwtJWKSURL, jwtJWKSURL.map(SettingValue.text)),
            (.jwtAudience, jwtAudience.map(SettingValue.text)),
            (.jwtIssuer, jwtIssuer.map(SettingValue.text)),
            (.trustedProxies, trustedProxies.map(SettingValue.text)),
            (.allowedOrigins, allowedOrigins.map(SettingValue.text)),
            (.publicDir, publicDir.map(SettingValue.text)),
            (.websocketCompression, websocketCompression.map(SettingValue.text)),
        ]
        return given.compactMap { setting, value in
            value.map { SettingEntry(setting: setting, value: $0, source: .flag("--" + setting.flagName)) }
        }
    }
}

extension Setting {
    /// The `--help` text and value placeholder of the setting's flag.
    fileprivate var argumentHelp: ArgumentHelp { ArgumentHelp(help, valueName: valueName) }
}
