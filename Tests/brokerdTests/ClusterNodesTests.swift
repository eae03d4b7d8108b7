import Publishers
import Testing

@testable import brokerd

/// The view of the other nodes their heartbeats give: kept while they come, forgotten when they
/// stop coming or say the node stopped.
struct ClusterNodesTests {
    private static func beat(
        _ node: String, instance: String = "i1", _ state: NodeHeartbeat.State = .serving, connections: Int = 1, sentAt: Int64 = 0
    ) -> NodeHeartbeat {
        NodeHeartbeat(
            origin: NodeOrigin(node: node, instance: instance), state: state, connections: connections, sessions: 2, ticksPerSecond: 20,
            journalSeq: 7, startedAt: 0, sentAt: sentAt)
    }

    @Test func aHeartbeatSentMoreThanHalfAMinuteFromThisClockIsLeftOut() {
        let cluster = ClusterNodes()
        let now: Int64 = 100_000_000
        #expect(!cluster.record(Self.beat("node-late", sentAt: now - 30_000_001), at: now), "delayed or replayed")
        #expect(!cluster.record(Self.beat("node-ahead", sentAt: now + 30_000_001), at: now), "a clock too far ahead")
        #expect(cluster.record(Self.beat("node-b", sentAt: now - 30_000_000), at: now))
        #expect(cluster.record(Self.beat("node-c", sentAt: now + 29_000_000), at: now))
        #expect(cluster.nodes(at: now).map(\.heartbeat.origin.node) == ["node-b", "node-c"])
        // A replayed "stopped" heartbeat does not hide the running node.
        #expect(!cluster.record(Self.beat("node-b", .stopped, sentAt: now - 60_000_000), at: now + 1))
        #expect(cluster.nodes(at: now + 2).map(\.heartbeat.origin.node) == ["node-b", "node-c"])
    }

    @Test func theLargestClockOffsetIsTheOtherNodesFarthestEitherWay() {
        let cluster = ClusterNodes()
        let now: Int64 = 100_000_000
        #expect(cluster.largestClockOffset(at: now) == 0, "none heard")
        cluster.record(Self.beat("node-behind", sentAt: now - 2_000_000), at: now)
        cluster.record(Self.beat("node-ahead", sentAt: now + 12_300_000), at: now)
        #expect(cluster.largestClockOffset(at: now) == 12_300_000)
        let row = ClusterBody.Node(Self.beat("node-ahead", sentAt: now + 12_300_000), isThisNode: false, heardAt: now)
        #expect(row.clockOffsetSeconds == -12.3, "this clock is behind that node's")
        #expect(ClusterBody.Node(Self.beat("node-a", sentAt: now), isThisNode: true, heardAt: now).clockOffsetSeconds == 0)
    }

    @Test func theLatestHeartbeatOfEachNodeIsShownByNodeUntilThreeAreMissed() {
        let cluster = ClusterNodes()
        cluster.record(Self.beat("node-b"), at: 1_000_000)
        cluster.record(Self.beat("node-a"), at: 2_000_000)
        cluster.record(Self.beat("node-b", connections: 5), at: 3_000_000)
        #expect(cluster.nodes(at: 3_000_000).map(\.heartbeat.origin.node) == ["node-a", "node-b"])
        #expect(cluster.nodes(at: 3_000_000).last?.heartbeat.connections == 5, "the latest heartbeat")
        // 15 s without one: node-a (heard at 2 s) goes at 17 s and a moment, node-b (3 s) stays a second longer.
        #expect(cluster.nodes(at: 17_000_000).map(\.heartbeat.origin.node) == ["node-a", "node-b"])
        #expect(cluster.nodes(at: 17_000_001).map(\.heartbeat.origin.node) == ["node-b"])
        #expect(cluster.nodes(at: 18_000_001).isEmpty)
    }

    @Test func aStoppedHeartbeatForgetsItsProcessButNotANewerOneOfTheSameNode() {
        let cluster = ClusterNodes()
        cluster.record(Self.beat("node-b", instance: "old"), at: 0)
        cluster.record(Self.beat("node-b", instance: "new"), at: 1)
        cluster.record(Self.beat("node-b", instance: "old", .stopped), at: 2)
        #expect(cluster.nodes(at: 3).map(\.heartbeat.origin.instance) == ["new"], "the restarted process stays")
        cluster.record(Self.beat("node-b", instance: "new", .stopped), at: 4)
        #expect(cluster.nodes(at: 5).isEmpty)
    }

    @Test func madeUpNodesBeyondTheLimitAreLeftOutButKnownOnesStillCount() {
        let cluster = ClusterNodes()
        for index in 0..<ClusterNodes.maxNodes { cluster.record(Self.beat("node-\(index)"), at: 0) }
        cluster.record(Self.beat("one-too-many"), at: 1)
        cluster.record(Self.beat("node-0", connections: 9), at: 1)
        let nodes = cluster.nodes(at: 1)
        #expect(nodes.count == ClusterNodes.maxNodes && !nodes.contains { $0.heartbeat.origin.node == "one-too-many" })
        #expect(nodes.first { $0.heartbeat.origin.node == "node-0" }?.heartbeat.connections == 9)
    }

    @Test func aNodeHeardForTheFirstTimeIsAnsweredOnce() {
        let cluster = ClusterNodes()
        #expect(!cluster.takeAnswerRequest())
        cluster.record(Self.beat("node-b"), at: 0)
        #expect(cluster.takeAnswerRequest())
        #expect(!cluster.takeAnswerRequest(), "taken")
        cluster.record(Self.beat("node-b"), at: 1)
        #expect(!cluster.takeAnswerRequest(), "known already")
        cluster.record(Self.beat("node-b", instance: "restarted"), at: 2)
        #expect(cluster.takeAnswerRequest(), "a new process of the node")
        cluster.record(Self.beat("node-c", .stopped), at: 3)
        #expect(!cluster.takeAnswerRequest(), "a stopped node is not answered")
    }
}
