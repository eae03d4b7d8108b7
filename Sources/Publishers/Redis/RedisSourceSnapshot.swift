/// A consistent copy of a tick source's state and counters, for `/readyz` and stats.
public struct RedisSourceSnapshot: Sendable, Hashable, Codable {
    /// The source as a whole: the least healthy of its connections.
    public var state: RedisSourceState
    /// The pub/sub connection of the tick channel and the other data channels (news, alerts,
    /// signals, k-lines); nil when none is configured.
    public var channelState: RedisSourceState?
    /// The pub/sub connection of the nodes' own channels (removals, lookups and their answers,
    /// heartbeats), apart so that what arrives there never holds up the ticks; nil when they are
    /// not subscribed.
    public var controlState: RedisSourceState?
    /// The stream connection; nil when no stream is configured.
    public var streamState: RedisSourceState?
    /// The shared log's connection; nil when the log is not read.
    public var logState: RedisSourceState?
    /// Pub/sub messages plus stream entries received.
    public var messages: Int = 0
    /// Ticks handed to the broker.
    public var ticks: Int = 0
    /// News items, alert-rule changes, signal lists and k-line bars from other nodes handed to the
    /// broker (from pub/sub or the shared log; the log's own entries included).
    public var shared: Int = 0
    /// Pub/sub messages of other nodes skipped because they are read from the shared log instead.
    public var logCopiesSkipped: Int = 0
    /// Messages this node published itself (tagged with its node id), recognised and skipped.
    public var ownSkipped: Int = 0
    /// Answers to other nodes' lookups over 64 KiB (a part of up to a megabyte), skipped
    /// undecoded: only the node asked takes them (this node's own answers are among them, and not
    /// in `ownSkipped`).
    public var answersForOthersSkipped: Int = 0
    /// Of `ownSkipped`, messages from another process using this node's id: a misconfiguration, since
    /// the two nodes then ignore each other's messages. Give every node its own `node_id`.
    public var nodeIDConflicts: Int = 0
    /// What was dropped as malformed, each once: a tick that did not decode or broke the broker's
    /// rules (the others of its message are kept), and a message or stream entry dropped whole (no
    /// tick shape at all, a key twice in one object, a stream entry with more ticks than one batch
    /// takes). A message with two bad ticks counts two.
    public var malformed: Int = 0
    /// With a shared secret (`redis_secret`): messages and log entries refused for their signature,
    /// one made with another secret or none where one is needed (anything a node tags, every
    /// removal, lookup, answer, heartbeat and shared-log entry).
    public var unsigned: Int = 0
    /// With a shared secret: signed messages and log entries refused as copies published again
    /// (`ReplayGuard`): read before, or signed more than 30 s before they were read (or after:
    /// a clock apart).
    public var replayed: Int = 0
    /// Times the broker's callback threw: batches refused (logged and skipped), and attempts to
    /// deliver a batch it could not journal (a stream batch is then delivered again).
    public var deliveryFailures: Int = 0
    /// Connections re-established after having been lost.
    public var reconnects: Int = 0
    /// Times the stream was found trimmed (MAXLEN, XTRIM) past the position reading resumed
    /// after: the entries between were lost unread. Each is logged as an error with both ids.
    public var gaps: Int = 0
    /// The most recent connection or read failure.
    public var lastError: String?
    /// The id of the last stream entry handed to the broker.
    public var lastStreamID: String?
    /// The id of the last shared-log entry handed to the broker.
    public var lastLogID: String?
    /// Whether the shared log's reader has read to the log's end since the source started: what
    /// the others shared while this node was down is in. False until then, also while Redis
    /// cannot be reached.
    public var logCaughtUp = false
    /// Whether the shared log's reader is on its way to the log's end: from the start until it
    /// gets there, as long as Redis answers. A first connection that fails ends it (a node whose
    /// Redis is away has nothing it can read, and serves what it has); a later session that
    /// reads the log starts it again until the end is reached.
    public var logCatchingUp = false

    /// Creates a snapshot of a source that has not started yet.
    public init(channelConfigured: Bool, streamConfigured: Bool, logConfigured: Bool = false, controlConfigured: Bool = false) {
        state = .stopped
        channelState = channelConfigured ? .stopped : nil
        controlState = controlConfigured ? .stopped : nil
        streamState = streamConfigured ? .stopped : nil
        logState = logConfigured ? .stopped : nil
    }

    /// Recomputes `state` from the connections' states.
    mutating func refreshOverallState() {
        let states = [channelState, controlState, streamState, logState].compactMap { $0 }
        state =
            if states.allSatisfy({ $0 == .stopped }) { .stopped }
            else if states.contains(.backingOff) { .backingOff }
            else if states.contains(.connecting) { .connecting }
            else if states.allSatisfy({ $0 == .connected }) { .connected }
            else { .connecting }
    }
}
