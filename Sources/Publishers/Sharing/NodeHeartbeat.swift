/// What a node tells the others about itself every few seconds over Redis, so that any node can
/// show the whole cluster (`GET /api/cluster`): which nodes run, how many clients each serves.
public struct NodeHeartbeat: Sendable, Hashable {
    /// Where the node is in its life.
    public enum State: String, Sendable, Hashable, CaseIterable {
        /// Accepting and serving clients.
        case serving
        /// Closing its clients before it stops (`shutdown_drain`), refusing new ones.
        case draining
        /// Stopped: its last heartbeat, so the others forget it at once.
        case stopped
    }

    /// The node's `node_id` and process, from the message's tags.
    public var origin: NodeOrigin
    public var state: State
    /// WebSocket connections open on the node.
    public var connections: Int
    /// Sessions its journal holds (connected, or gone and resumable).
    public var sessions: Int
    public var ticksPerSecond: Double
    /// The last seq of its journal.
    public var journalSeq: UInt64
    /// When the process started, UTC microseconds.
    public var startedAt: Int64
    /// When the heartbeat was sent, UTC microseconds.
    public var sentAt: Int64

    /// A heartbeat of `origin`.
    public init(
        origin: NodeOrigin, state: State, connections: Int, sessions: Int, ticksPerSecond: Double, journalSeq: UInt64,
        startedAt: Int64, sentAt: Int64
    ) {
        self.origin = origin
        self.state = state
        self.connections = connections
        self.sessions = sessions
        self.ticksPerSecond = ticksPerSecond
        self.journalSeq = journalSeq
        self.startedAt = startedAt
        self.sentAt = sentAt
    }

    /// How often a node sends one.
    public static let interval: Duration = .seconds(5)
}
