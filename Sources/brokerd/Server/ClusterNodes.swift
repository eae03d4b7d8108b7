import Hummingbird
import Journal
import Publishers
import Synchronization

/// The other nodes sharing through Redis, as their heartbeats tell (`NodeHeartbeat`): the view of
/// the cluster `GET /api/cluster` gives on any node. A node not heard from for three heartbeats is
/// left out; one whose last heartbeat says it stopped, at once. A node heard from for the first
/// time is answered with a heartbeat at once (`takeAnswerRequest`), so nodes that start together
/// know each other within moments, not a heartbeat's interval. This node is never among them: the
/// Redis reader skips its own messages.
final class ClusterNodes: Sendable {
    /// A node's latest heartbeat and when this node heard it, UTC microseconds.
    struct Heard: Sendable, Equatable {
        let heartbeat: NodeHeartbeat
        let at: Int64

        /// How far this node's clock was ahead of the node's when it heard the heartbeat (behind
        /// when negative), microseconds; the heartbeat's trip through Redis included (a few ms).
        var clockOffset: Int64 { at - heartbeat.sentAt }
    }

    /// How long a node is shown without a heartbeat: three missed.
    static let expiry = NodeHeartbeat.interval * 3

    /// Most nodes kept: far more than any deployment runs, so heartbeats under made-up node ids
    /// (anything that can PUBLISH to Redis can send them) cannot grow the map without bound.
    static let maxNodes = 1_000

    private let heard = Mutex<[String: Heard]>([:])
    private let answerRequested = Atomic<Bool>(false)

    /// How far a heartbeat's `sent_at` may be from this node's clock, either way, for it to count,
    /// as far as a removal's `requested_at` may be behind: an older heartbeat is a delayed or
    /// replayed message, not a sign of life (a replayed `stopped` one would hide a running node);
    /// one further ahead comes from a clock further off than the nodes' other checks allow.
    static let maxClockDistance = UserRemoval.maxAge

    /// Takes `heartbeat`, heard at `now` (UTC microseconds). Returns false for one sent further
    /// than `maxClockDistance` from `now`, which is left out.
    @discardableResult
    func record(_ heartbeat: NodeHeartbeat, at now: Int64) -> Bool {
        guard abs(now - heartbeat.sentAt) <= Self.maxClockDistance.microseconds else { return false }
        let isNew = heard.withLock { heard in
            let known = heard[heartbeat.origin.node]?.heartbeat.origin.instance == heartbeat.origin.instance
            if heartbeat.state == .stopped {
                // Only that process's: a node restarted meanwhile under the same id stays.
                if known { heard[heartbeat.origin.node] = nil }
                return false
            }
            guard heard[heartbeat.origin.node] != nil || heard.count < Self.maxNodes else { return false }
            heard[heartbeat.origin.node] = Heard(heartbeat: heartbeat, at: now)
            return !known
        }
        if isNew { answerRequested.store(true, ordering: .relaxed) }
        return true
    }

    /// Whether a node was heard from for the first time since the last call: this one's
    /// heartbeat is then due at once.
    func takeAnswerRequest() -> Bool {
        answerRequested.exchange(false, ordering: .relaxed)
    }

    /// The largest clock offset to another node heard within `expiry` of `now`, either way, in
    /// microseconds; 0 when none is heard. Signed messages, removals and heartbeats are refused
    /// past `maxClockDistance`: this shows how near that is.
    func largestClockOffset(at now: Int64) -> Int64 {
        nodes(at: now).map { abs($0.clockOffset) }.max() ?? 0
    }

    /// The nodes heard from within `expiry` of `now`, by node id; the others are forgotten.
    func nodes(at now: Int64) -> [Heard] {
        let expiry = Self.expiry.microseconds
        return heard.withLock { heard in
            heard = heard.filter { now - $0.value.at <= expiry }
            return heard.values.sorted { $0.heartbeat.origin.node < $1.heartbeat.origin.node }
        }
    }
}

extension APIRoutes {
    /// `GET /api/cluster` (admin): this node and the others sharing through Redis, as their
    /// heartbeats last told (only this one without Redis).
    func cluster() async throws -> Response {
        let this = await runtime.heartbeat(store: try readyStore(), state: runtime.nodeState)
        let others = runtime.cluster.nodes(at: this.sentAt).map { ClusterBody.Node($0.heartbeat, isThisNode: false, heardAt: $0.at) }
        let nodes = ([ClusterBody.Node(this, isThisNode: true, heardAt: this.sentAt)] + others).sorted { $0.node < $1.node }
        return JSONResponse.make(ClusterBody(count: nodes.count, nodes: nodes))
    }
}

struct ClusterBody: Encodable {
    struct Node: Encodable {
        let node: String
        /// The process; nil for this node when it shares nothing (no Redis).
        let instance: String?
        let isThisNode: Bool
        let state: String
        let connections: Int
        let sessions: Int
        let ticksPerSecond: Double
        let journalSeq: UInt64
        let uptimeSeconds: Double
        /// Since its last heartbeat reached this node (0 for this node).
        let lastHeardSeconds: Double
        /// How far this node's clock was ahead of the node's when its last heartbeat came (behind
        /// when negative; the trip through Redis included), to a tenth; 0 for this node. Messages
        /// from a node more than 30 s off are refused (`ClusterNodes.maxClockDistance`).
        let clockOffsetSeconds: Double

        /// The row of `heartbeat`, heard at `heardAt` (UTC microseconds); this node's own is
        /// made now, so its uptime is to now and it was heard just now.
        init(_ heartbeat: NodeHeartbeat, isThisNode: Bool, heardAt: Int64) {
            node = heartbeat.origin.node
            instance = heartbeat.origin.instance.isEmpty ? nil : heartbeat.origin.instance
            self.isThisNode = isThisNode
            state = heartbeat.state.rawValue
            connections = heartbeat.connections
            sessions = heartbeat.sessions
            ticksPerSecond = heartbeat.ticksPerSecond
            journalSeq = heartbeat.journalSeq
            uptimeSeconds = Self.seconds(heartbeat.sentAt - heartbeat.startedAt)
            lastHeardSeconds = Self.seconds(WallClock.microsecondsNow() - heardAt)
            clockOffsetSeconds = isThisNode ? 0 : (Double(heardAt - heartbeat.sentAt) / 100_000).rounded() / 10
        }

        /// Microseconds as seconds, to a tenth.
        private static func seconds(_ microseconds: Int64) -> Double {
            (Double(max(0, microseconds)) / 100_000).rounded() / 10
        }

        enum CodingKeys: String, CodingKey {
            case node, instance, state, connections, sessions
            case isThisNode = "this_node"
            case ticksPerSecond = "ticks_per_second"
            case journalSeq = "journal_seq"
            case uptimeSeconds = "uptime_seconds"
            case lastHeardSeconds = "last_heard_seconds"
            case clockOffsetSeconds = "clock_offset_seconds"
        }
    }

    let count: Int
    let nodes: [Node]
}
