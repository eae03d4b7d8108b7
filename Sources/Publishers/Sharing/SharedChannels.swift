/// The Redis pub/sub channels and the stream through which brokerd nodes share what one of them
/// ingested.
///
/// Ticks travel on the tick channel itself, next to external feeders' ticks (a node's messages
/// are tagged with its id, a feeder's are not), so every node reads one tick channel. News,
/// alert-rule changes, strategy signal lists and ingested k-line bars have a channel each, named
/// after the tick channel, and are also appended to the shared log, a stream every node reads
/// from where it left off: a node that was down catches up, and every node applies conflicting
/// writes in the log's one order.
public struct SharedChannels: Sendable, Hashable {
    /// Ticks: `<channel>` (default `ticks`).
    public var ticks: String
    /// News items: `<channel>:news`.
    public var news: String
    /// Alert rules set and removed: `<channel>:alerts`.
    public var alerts: String
    /// Strategies' signal lists replaced: `<channel>:signals`.
    public var signals: String
    /// K-line bars ingested over HTTP: `<channel>:klines`.
    public var klines: String
    /// An operator's requests about sessions, handed from the node asked to the others, and their
    /// answers: removals of a user's sessions or of a client id's, lookups of a client id:
    /// `<channel>:removals` (not in the log: a removal acts on the connections open when it is
    /// asked for).
    public var removals: String
    /// Every node's heartbeat, for a view of the cluster: `<channel>:nodes` (not in the log).
    public var nodes: String
    /// The shared log of everything but ticks, a stream: `<channel>:log`.
    public var log: String

    /// The layout around the tick channel `tickChannel`.
    public init(tickChannel: String) {
        ticks = tickChannel
        news = tickChannel + ":news"
        alerts = tickChannel + ":alerts"
        signals = tickChannel + ":signals"
        klines = tickChannel + ":klines"
        removals = tickChannel + ":removals"
        nodes = tickChannel + ":nodes"
        log = tickChannel + ":log"
    }
}
