import Hummingbird
import Journal
import Publishers
import Synchronization

/// The other nodes sharing through Redis, as their heartbeats tell (`NodeHeartbeat`): the view of
/// the cluster `GET /api/cluster` gives on any node. A node not heard from for three heartbeats is
/// left out; one whose last heartbeat says it stopped, at once. A node heard from for the first
/// time is answered with a heartbeat at once (`takeAnswerRequest`), so nodes that start together
/// know each other within moments, not a heartbeat's interval.
final class ClusterNodes: Sendable {
    /// A node's latest heartbeat and when this node heard it, UTC microseconds.
    struct Heard: Sendable, Equatable {
        let heartbeat: NodeHeartbeat
        let at: Int64
    }

    /// How long a node is shown without a heartbeat: three missed.
    static let expiry = NodeHeartbeat.interval * 3

    /// Most nodes kept: far more than any deployment runs, so heartbeats under made-up node ids
    /// (anything that can PUBLISH to Redis can send them) cannot grow the map without bound.
    static let maxNodes = 1_000

    private let heard = Mutex<[String: Heard]>([:])
    private let answerRequested = Atomic<Bool>(false)

    /// Takes `heartbeat`, heard at `now`.
    func record(_ heartbeat: NodeHeartbeat, at now: Int64) {
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
    }

    /// Whether a node was heard from for the first time since the last call: this one's
    /// heartbeat is then due at once.
    func takeAnswerRequest() -> Bool {
        answerRequested.exchange(false, ordering: .relaxed)
    }

    /// The nodes heard from within `expiry` of `now`, by node id; the others are forgotten.
    func nodes(at now: Int64) -> [Heard] {
        let expiry = Int64(Self.expiry.components.seconds) * 1_000_000
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
        let store = try readyStore()
        let now = WallClock.microsecondsNow()
        let (sessions, seq) = await store.read { ($0.clients.count, $0.lastSeq) }
        let this = ClusterBody.Node(
            node: runtime.configuration.nodeID, instance: runtime.broadcaster?.origin.instance, isThisNode: true,
            state: runtime.isDraining ? NodeHeartbeat.State.draining.rawValue : NodeHeartbeat.State.serving.rawValue,
            connections: runtime.registry.count, sessions: sessions, ticksPerSecond: runtime.tickRate.perSecond, journalSeq: seq,
            uptimeSeconds: Self.seconds(now - runtime.startedAt), lastHeardSeconds: 0)
        let others = runtime.cluster.nodes(at: now).filter { $0.heartbeat.origin.node != this.node }.map { heard in
            let beat = heard.heartbeat
            return ClusterBody.Node(
                node: beat.origin.node, instance: beat.origin.instance, isThisNode: false, state: beat.state.rawValue,
                connections: beat.connections, sessions: beat.sessions, ticksPerSecond: beat.ticksPerSecond, journalSeq: beat.journalSeq,
                uptimeSeconds: Self.seconds(beat.sentAt - beat.startedAt), lastHeardSeconds: Self.seconds(now - heard.at))
        }
        let nodes = ([this] + others).sorted { $0.node < $1.node }
        return JSONResponse.make(ClusterBody(count: nodes.count, nodes: nodes))
    }

    /// Microseconds as seconds, to a tenth.
    private static func seconds(_ microseconds: Int64) -> Double {
        (Double(max(0, microseconds)) / 100_000).rounded() / 10
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

        enum CodingKeys: String, CodingKey {
            case node, instance, state, connections, sessions
            case isThisNode = "this_node"
            case ticksPerSecond = "ticks_per_second"
            case journalSeq = "journal_seq"
            case uptimeSeconds = "uptime_seconds"
            case lastHeardSeconds = "last_heard_seconds"
        }
    }

    let count: Int
    let nodes: [Node]
}
