import Broker

/// Where a `RedisTickSource` reads ticks from and how it behaves when Redis goes away.
public struct RedisTickSourceConfiguration: Sendable, Hashable {
    /// The Redis server and database, where the readers connect (and connect again after a move).
    public var address: RedisAddress
    /// The Redis server and database now.
    public var url: RedisURL { address.url }
    /// Pub/sub channel to SUBSCRIBE to; nil to not subscribe.
    public var channel: String?
    /// Stream to XREAD; nil to not read a stream.
    public var stream: String?
    /// Pub/sub channel of news shared by other nodes (`<channel>:news`); nil to not subscribe.
    public var newsChannel: String?
    /// Pub/sub channel of alert-rule changes shared by other nodes (`<channel>:alerts`); nil to not subscribe.
    public var alertsChannel: String?
    /// Pub/sub channel of strategy signal lists shared by other nodes (`<channel>:signals`); nil to not subscribe.
    public var signalsChannel: String?
    /// Pub/sub channel of k-line bars shared by other nodes (`<channel>:klines`); nil to not subscribe.
    public var klinesChannel: String?
    /// Pub/sub channel of an operator's requests about sessions asked on other nodes, and the answers
    /// (`<channel>:removals`); nil to not subscribe.
    public var removalsChannel: String?
    /// Pub/sub channel of the other nodes' heartbeats (`<channel>:nodes`); nil to not subscribe.
    public var nodesChannel: String?
    /// The shared log (`<channel>:log`), a stream of the news, alert rules, signal lists and bars
    /// the nodes share; nil to not read it. Read, it replaces their pub/sub copies.
    public var log: String?
    /// The node this source runs in: messages it published itself are skipped, because it has
    /// journaled them already. Nil ingests every message.
    public var node: NodeOrigin?
    /// How long one `XREAD BLOCK` waits for new entries.
    public var streamBlock: Duration
    /// Most entries one `XREAD` returns (`COUNT`).
    public var streamCount: Int
    /// Bound on opening a TCP connection.
    public var connectTimeout: Duration
    /// Delays between reconnection attempts.
    public var backoff: ReconnectBackoff
    /// How long the subscription may hear nothing before it PINGs Redis; one more such spell
    /// without an answer ends the connection (a Redis that stopped answering is not `connected`).
    public var healthCheckInterval: Duration
    /// The decider's bounds; ticks that break them are dropped and counted here.
    public var limits: Limits
    /// How what is read is checked (`SharedMessageSigner`, as last reloaded): the secret the
    /// nodes sign what they share with (none takes messages unsigned), whether what a node's word
    /// is needed for must be signed, and the secret accepted besides it while it is rotated.
    public var secrets: SharedSecrets

    /// Creates a configuration; by default it subscribes to `ticks` and reads no stream. The
    /// readers connect to `address` when one is given (shared with the broker's other users of
    /// Redis, so a reload can move them all), else to `url`.
    public init(
        url: RedisURL, address: RedisAddress? = nil, channel: String? = "ticks", stream: String? = nil, newsChannel: String? = nil,
        alertsChannel: String? = nil, signalsChannel: String? = nil, klinesChannel: String? = nil, removalsChannel: String? = nil,
        nodesChannel: String? = nil, log: String? = nil,
        node: NodeOrigin? = nil, streamBlock: Duration = .seconds(1),
        streamCount: Int = 500, connectTimeout: Duration = .seconds(2), backoff: ReconnectBackoff = .init(),
        healthCheckInterval: Duration = .seconds(5), limits: Limits = .init(), secrets: SharedSecrets = SharedSecrets()
    ) {
        self.address = address ?? RedisAddress(url)
        self.channel = channel
        self.stream = stream
        self.newsChannel = newsChannel
        self.alertsChannel = alertsChannel
        self.signalsChannel = signalsChannel
        self.klinesChannel = klinesChannel
        self.removalsChannel = removalsChannel
        self.nodesChannel = nodesChannel
        self.log = log
        self.node = node
        self.streamBlock = streamBlock
        self.streamCount = streamCount
        self.connectTimeout = connectTimeout
        self.backoff = backoff
        self.healthCheckInterval = healthCheckInterval
        self.limits = limits
        self.secrets = secrets
    }

    /// Throws the first unusable setting.
    func validate() throws(RedisError) {
        func fail(_ setting: String, _ reason: String) -> RedisError { .invalidConfiguration(setting: setting, reason: reason) }
        if subscribedChannels.isEmpty && stream == nil && log == nil { throw fail("channel/stream", "configure a channel, a stream, or both") }
        if channel?.isEmpty == true { throw fail("channel", "is empty") }
        if newsChannel?.isEmpty == true { throw fail("newsChannel", "is empty") }
        if alertsChannel?.isEmpty == true { throw fail("alertsChannel", "is empty") }
        if signalsChannel?.isEmpty == true { throw fail("signalsChannel", "is empty") }
        if klinesChannel?.isEmpty == true { throw fail("klinesChannel", "is empty") }
        if removalsChannel?.isEmpty == true { throw fail("removalsChannel", "is empty") }
        if nodesChannel?.isEmpty == true { throw fail("nodesChannel", "is empty") }
        if Set(subscribedChannels).count < subscribedChannels.count {
            throw fail("channels", "the tick, news, alerts, signals, klines, removals and nodes channels must differ")
        }
        if stream?.isEmpty == true { throw fail("stream", "is empty") }
        if log?.isEmpty == true { throw fail("log", "is empty") }
        if let log, log == stream { throw fail("log", "must differ from the tick stream") }
        if streamBlock < .milliseconds(1) { throw fail("streamBlock", "must be at least 1 ms (0 would block forever)") }
        if streamCount < 1 { throw fail("streamCount", "must be at least 1") }
        if connectTimeout <= .zero { throw fail("connectTimeout", "must be positive") }
        if backoff.initial <= .zero || backoff.maximum < backoff.initial {
            throw fail("backoff", "needs 0 < initial <= maximum")
        }
        if healthCheckInterval < .milliseconds(1) { throw fail("healthCheckInterval", "must be at least 1 ms") }
        if limits.maxTicksPerBatch < 1 { throw fail("limits.maxTicksPerBatch", "must be at least 1") }
    }

    /// The pub/sub channels to SUBSCRIBE to: ticks, news, alerts, signals, k-lines, removals, nodes, as configured.
    var subscribedChannels: [String] { dataChannels + controlChannels }

    /// The channels of data to ingest: ticks, news, alerts, signals, k-lines, as configured.
    var dataChannels: [String] { [channel, newsChannel, alertsChannel, signalsChannel, klinesChannel].compactMap { $0 } }

    /// The nodes' own channels: removals (with lookups and answers) and heartbeats, as configured.
    /// Read on a connection of their own (`RedisChannelReader.Role.control`).
    var controlChannels: [String] { [removalsChannel, nodesChannel].compactMap { $0 } }

    /// Whether `id` can start an XREAD: `$`, `<ms>` or `<ms>-<seq>`.
    static func isStreamID(_ id: String) -> Bool { id == "$" || StreamID(id) != nil }
}
