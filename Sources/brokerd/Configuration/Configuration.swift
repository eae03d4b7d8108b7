#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Journal
import Publishers
import Logging

/// Every setting of a running broker, with the shipped defaults; resolved once at start-up.
///
/// Values come from `Config/brokerd.toml`, `BROKERD_*` environment variables and `brokerd serve`
/// flags (see `Configuration.resolve`); `Setting` lists each one with its names in all three.
public struct Configuration: Sendable, Equatable {
    /// Address to listen on. Loopback by default so a fresh install is not reachable from outside;
    /// set `0.0.0.0` (or `::`) behind nginx on another host.
    public var host = "127.0.0.1"
    /// TCP port to listen on; 0 lets the system pick a free one.
    public var port = 8000
    /// Path of the SQLite journal file.
    public var journalPath = "./data/journal.sqlite"
    /// How hard a journal commit waits for the disk.
    public var durability = Durability.normal
    /// SQLite's page cache of each of the journal's connections, in MiB: what a long-running
    /// broker's memory grows by per connection, and what keeps reads of recent rows off the disk.
    public var journalCacheMiB = 64
    /// Events between two snapshots.
    public var snapshotInterval = 100_000
    /// Silence from a client after which its connection is closed (reason heartbeat_timeout).
    public var heartbeatTimeout = Duration.seconds(90)
    /// How long a disconnected session stays resumable; zero disables resume.
    public var resumeWindow = Duration.seconds(300)

    /// `resumeWindow` in microseconds, fractions of a second included: what a disconnect's resume
    /// deadline adds to its time.
    public var resumeWindowMicroseconds: Int64 { resumeWindow.microseconds }
    /// How long a stopping broker takes to close its clients (`DrainSchedule`): meanwhile it
    /// refuses new ones and `/readyz` says `draining`, so they reconnect to other nodes a few at a
    /// time; zero closes them all at once.
    public var shutdownDrain = Duration.zero
    /// Name of this node in stats and in messages shared with other nodes.
    public var nodeID = Configuration.defaultNodeID
    /// Lowest level that is logged.
    public var logLevel = Logger.Level.info
    /// How log lines are written.
    public var logFormat = LogFormat.text
    /// Directory of static files served at `/` (the live console), relative to the working directory
    /// like the journal; a missing directory turns the console off with a log line.
    public var publicDirectory = "Public"
    /// Whether connections whose client offers permessage-deflate get their messages compressed
    /// (see `PerMessageDeflate`).
    public var websocketCompression = true
    /// Per-client and per-process bounds.
    public var limits = Limits()
    /// The built-in tick simulator.
    public var simulator = Simulator()
    /// The Redis pub/sub source shared by several nodes.
    public var redis = Redis()
    /// Tokens, secrets and trusted proxies.
    public var auth = Auth()

    /// Creates a configuration holding the defaults.
    public init() {}

    /// The default node id: this host's name (`gethostname`, no DNS lookup), or `brokerd` without one.
    public static var defaultNodeID: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "brokerd" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty || name.contains(where: \.isWhitespace) ? "brokerd" : name
    }
}

extension Configuration {
    /// Bounds on what one client, and all clients together, may cost the broker.
    public struct Limits: Sendable, Equatable {
        /// Largest WebSocket frame a client may send, in bytes.
        public var maxFrameBytes = 65_536
        /// Subscriptions one client may hold.
        public var maxSubscriptionsPerClient = 100
        /// Token-bucket refill rate: messages per second a client may send on average.
        public var messagesPerSecond = 20.0
        /// Token-bucket capacity: messages a client may send at once after being quiet.
        public var burst = 40
        /// Connected clients at most; further upgrades are refused.
        public var maxClients = 10_000
        /// Connections and new connections per second of one client address; off by default
        /// (offices share one address; behind a proxy set `trusted_proxies`, or every client has
        /// the proxy's).
        var perAddress = ConnectionAdmissions.PerAddressLimits()
        /// Connections one user (the `sub` of a client token) may hold at once; 0 for no limit.
        /// Anonymous clients are held to `perAddress` only.
        public var maxConnectionsPerUser = 0
        /// Messages queued per connection before a slow consumer is coalesced, then disconnected.
        public var outboundQueueCapacity = 1_024
        /// How long a connection's socket may take nothing while messages wait for it; then it is
        /// closed as a slow consumer. Coalescing keeps a client with only price subscriptions
        /// under `outboundQueueCapacity` however long it reads nothing.
        public var slowConsumerTimeout = Duration.seconds(30)
        /// The shortest time between two price updates of one subscription to a connection
        /// (prices arriving meanwhile are merged, latest per code); zero sends each as soon as
        /// the connection's event loop can.
        public var priceInterval = Duration.zero

        /// Creates limits holding the defaults.
        public init() {}
    }

    /// The built-in random-walk tick source.
    public struct Simulator: Sendable, Equatable {
        /// Whether the simulator publishes ticks.
        public var isEnabled = true
        /// Ticks per second it publishes.
        public var ticksPerSecond = 20.0
        /// Signals file of the strategies and stocks it trades, relative to the working directory;
        /// nil reads `Config/signals.json` if it exists, else trades the market built into the binary.
        public var signalsPath: String?

        /// Creates simulator settings holding the defaults.
        public init() {}
    }

    /// Redis pub/sub, through which several nodes share ticks, news and alerts.
    public struct Redis: Sendable, Equatable {
        /// `redis://host[:port][/db]` (TCP), parsed when the setting is read; nil runs without Redis.
        /// Its `description` leaves the password out.
        public var url: RedisURL?
        /// Redis Sentinels to ask where the master is (`redis://[[user]:password@]host:port`, the
        /// password the sentinel's own), and to follow its failovers through; with them, `url`
        /// gives the master's user, password and database, and its host and port serve only until
        /// a sentinel answers. Empty: `url` is where Redis is.
        public var sentinels: [RedisURL] = []
        /// The name the sentinels monitor the master under (`sentinel monitor <name> …`).
        public var sentinelMaster: String?
        /// Pub/sub channel carrying ticks; news and alert rules shared between nodes use
        /// `<channel>:news` and `<channel>:alerts`.
        public var channel = "ticks"
        /// Optional Redis stream to read ticks from as well; nil reads none.
        public var stream: String?
        /// Key pattern of the seed's K-line cache, with `{code}` and `{period}` placeholders (e.g.
        /// `kline:{code}:{period}`); nil never reads the cache.
        public var klineKey: String?
        /// About how many entries the nodes' shared log (`<channel>:log`) keeps; 0 writes and
        /// reads no log (sharing over pub/sub alone: no catch-up, no common order).
        public var logLength = 100_000
        /// How long an operator's request handed to the other nodes (a user's removal, a client id
        /// this node does not have, a lookup of connections or subscribers) waits for their
        /// answers: a little longer than a node takes to journal a disconnect at worst (5 s).
        public var answerWait = Duration.seconds(6)
        /// How often the node checks Redis: a subscription that heard nothing for this long PINGs
        /// (and reconnects when as long again brings no answer), the publisher to the other nodes
        /// and the sentinel watcher ask the master for its `ROLE`, and the watcher asks every
        /// sentinel for its configuration. Shorter finds a failover sooner, for more round trips.
        public var healthCheckInterval = Duration.seconds(5)
        /// The secret the nodes sign what they share with and check what they read against
        /// (`SharedMessageSigner`); nil signs nothing and takes messages unsigned.
        public var secret: String?
        /// With `secret`: whether a node's messages must be signed; false takes unsigned ones too
        /// (checking the signatures that are there), for turning signing on node by node.
        public var secretRequired = true
        /// With `secret`: another secret whose signatures are taken too (not signed with), while
        /// the secret is rotated.
        public var secretAccepted: String?

        /// `logLength` when the shared log is written and read; nil when it is off or there is no Redis.
        var sharedLogLength: Int? { url != nil && logLength > 0 ? logLength : nil }

        /// Creates Redis settings holding the defaults.
        public init() {}
    }

    /// Who may do what.
    public struct Auth: Sendable, Equatable {
        /// Bearer token the ingest and admin routes require; nil leaves them open.
        public var adminToken: String?
        /// HS256 secret for client JWTs; nil (and no `jwtPublicKeyPath`) lets clients connect anonymously.
        public var jwtSecret: String?
        /// PEM file of the token issuer's public key, for RS256 or ES256 client JWTs; read by
        /// `Configuration.load` into `jwtPublicKey`.
        public var jwtPublicKeyPath: String?
        /// The key `jwtPublicKeyPath` holds, once `Configuration.load` read it.
        var jwtPublicKey: JWTPublicKey?
        /// URL of the token issuer's JSON Web Key Set (`JWKSKeys`), for RS256 and ES256 client JWTs
        /// that name their key; nil reads none.
        public var jwtJWKSURL: String?
        /// The `aud` client JWTs must name; nil checks none.
        public var jwtAudience: String?
        /// The `iss` client JWTs must have; nil checks none.
        public var jwtIssuer: String?

        /// Whether WebSocket clients need a token: a secret, a public key or a key set is configured.
        var checksClientTokens: Bool { jwtSecret != nil || jwtPublicKeyPath != nil || jwtJWKSURL != nil }
        /// Proxy addresses whose `X-Forwarded-For` is believed.
        public var trustedProxies: [String] = []
        /// Origins of the web pages that may use the broker from a browser (`AllowedOrigins`);
        /// empty: no check.
        public var allowedOrigins: [String] = []

        /// Creates auth settings holding the defaults.
        public init() {}
    }
}

extension Duration {
    /// The duration in whole microseconds, fractions of a second included: how the broker's
    /// clocks (`WallClock`) count.
    var microseconds: Int64 {
        components.seconds * 1_000_000 + components.attoseconds / 1_000_000_000_000
    }
}

/// How `brokerd serve` writes its log lines to standard error.
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's text lines: `<time> <level> <label>: <metadata> [<source>] <message>`.
    case text
    /// One JSON object per line (`JSONLogHandler`).
    case json
}
