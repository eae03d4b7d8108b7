import Publishers
import Testing

@testable import brokerd

/// The other nodes' answers to a user's removal this node was asked for: awaited from the nodes it
/// knows until each answered or the deadline passed, and dropped once nobody waits.
struct NodeAnswersTests {
    private static func answer(_ node: String, to requestID: String, clients: [String] = ["client_0000000a"]) -> UserRemovalAnswer {
        UserRemovalAnswer(requestID: requestID, askedOn: "node-a", node: node, user: "alice", clients: clients)
    }

    @Test func theWaitEndsAsSoonAsEveryNodeKnownHasAnsweredAndKeepsTheOthersToo() async {
        let registry = NodeAnswers<UserRemovalAnswer>()
        let pending = registry.open("r1")
        // Before anyone collects: kept until then. A node not waited for (started since) is kept too.
        #expect(registry.deliver(Self.answer("node-b", to: "r1")))
        #expect(registry.deliver(Self.answer("node-d", to: "r1", clients: [])))
        #expect(!registry.deliver(Self.answer("node-c", to: "another")), "nobody waits for another request")
        Task {
            try? await Task.sleep(for: .milliseconds(50))
            registry.deliver(Self.answer("node-c", to: "r1", clients: ["client_0000000c", "client_0000000d"]))
        }
        // A deadline far off: only the answers end the wait.
        let collected = await pending.collect(from: ["node-b", "node-c"], until: .now + .seconds(600))
        #expect(collected.answers.keys.sorted() == ["node-b", "node-c", "node-d"])
        #expect(collected.answers["node-c"]?.clients.count == 2)
        #expect(collected.unanswered.isEmpty)
        #expect(registry.pendingCount == 0)
        #expect(!registry.deliver(Self.answer("node-e", to: "r1")), "a late answer is dropped")
    }

    /// A lookup of one client id ends with the answer of the node that has the session: a node
    /// that hangs does not hold it to the deadline.
    @Test func theWaitEndsAtTheFirstAnswerThatIsEnough() async {
        let registry = NodeAnswers<UserRemovalAnswer>()
        let pending = registry.open("r5")
        registry.deliver(Self.answer("node-b", to: "r5", clients: []))
        registry.deliver(Self.answer("node-c", to: "r5"))
        let collected = await pending.collect(from: ["node-b", "node-c", "node-hung"], until: .now + .seconds(600)) { !$0.clients.isEmpty }
        #expect(collected.answers.keys.sorted() == ["node-b", "node-c"])
        #expect(collected.unanswered == ["node-hung"])
        #expect(registry.pendingCount == 0)
    }

    @Test func aNodeThatDoesNotAnswerByTheDeadlineIsNamed() async {
        let registry = NodeAnswers<UserRemovalAnswer>()
        let pending = registry.open("r2")
        registry.deliver(Self.answer("node-b", to: "r2"))
        let collected = await pending.collect(from: ["node-b", "node-c", "node-e"], until: .now + .milliseconds(100))
        #expect(collected.answers.keys.sorted() == ["node-b"])
        #expect(collected.unanswered == ["node-c", "node-e"])
        #expect(registry.pendingCount == 0)
    }

    @Test func withNoOtherNodeKnownNothingIsAwaited() async {
        let registry = NodeAnswers<UserRemovalAnswer>()
        let pending = registry.open("r3")
        let collected = await pending.collect(from: [], until: .now + .seconds(600))
        #expect(collected == NodeAnswers<UserRemovalAnswer>.Collected())
        #expect(registry.pendingCount == 0)
    }

    /// Answers too large for one message come in parts, from several nodes at once and in any
    /// order: each node's answer is handed on once it is whole, and not before.
    @Test func answersInPartsAreHandedOnWholeOnceEveryPartCame() async throws {
        let registry = NodeAnswers<SessionLookupAnswer>()
        let pending = registry.open("r6")
        func parts(_ node: String, _ body: String) throws -> [SessionLookupAnswer] {
            try #require(SessionLookupAnswer(requestID: "r6", askedOn: "node-a", node: node, target: .connections).carrying(body, maxBytes: 8))
        }
        let fromB = try parts("node-b", #"{"clients":["client_0000000b","client_000000bb"]}"#)
        let fromC = try parts("node-c", #"{"clients":["client_0000000c"]}"#)
        #expect(fromB.count == 7 && fromC.count == 4)
        // Interleaved, each node's out of order, one part twice.
        for (b, c) in zip(fromB.reversed(), [fromC[2], fromC[0], fromC[3], fromC[0]] + Array(repeating: nil, count: 3)) {
            #expect(registry.deliver(b))
            if let c { #expect(registry.deliver(c)) }
        }
        let early = await pending.collect(from: ["node-b", "node-c"], until: .now + .milliseconds(300))
        #expect(early.answers.keys.sorted() == ["node-b"], "node-c's part 1 has not come")
        #expect(early.answers["node-b"]?.body == #"{"clients":["client_0000000b","client_000000bb"]}"#)
        #expect(early.answers["node-b"]?.parts == 1 && early.unanswered == ["node-c"])

        let again = registry.open("r6")
        for part in fromC { registry.deliver(part) }
        let whole = await again.collect(from: ["node-c"], until: .now + .seconds(30))
        #expect(whole.answers["node-c"]?.body == #"{"clients":["client_0000000c"]}"#)
    }

    /// A node answers once: parts of an answer counted differently replace those held. Parts
    /// beyond what a request may hold are dropped.
    @Test func partsHeldPerRequestAreBounded() async throws {
        let registry = NodeAnswers<SessionLookupAnswer>()
        let pending = registry.open("r7")
        let base = SessionLookupAnswer(requestID: "r7", askedOn: "node-a", node: "node-b", target: .connections)
        let three = try #require(base.carrying(#"{"clients":[1,2]}"#, maxBytes: 6))
        let two = try #require(base.carrying(#"{"clients":[]}"#, maxBytes: 8))
        #expect(three.count == 3 && two.count == 2)
        for part in [three[0], three[1], two[0], two[1], three[2]] { #expect(registry.deliver(part)) }
        let collected = await pending.collect(from: ["node-b"], until: .now + .seconds(30))
        #expect(collected.answers["node-b"]?.body == #"{"clients":[]}"#)

        let bounded = registry.open("r8")
        let held = NodeAnswers<SessionLookupAnswer>.maxHeldParts
        var nodes = 0
        var delivered = 0
        // Answers of 16 parts, none whole: the first 15 parts of each node's.
        while delivered < held {
            let node = SessionLookupAnswer(requestID: "r8", askedOn: "node-a", node: "node-\(nodes)", target: .connections)
            let sixteen = try #require(node.carrying("{" + String(repeating: "x", count: 16 * 4 - 2) + "}", maxBytes: 4))
            #expect(sixteen.count == 16)
            for part in sixteen.dropLast() where delivered < held {
                #expect(registry.deliver(part))
                delivered += 1
            }
            nodes += 1
        }
        let beyond = SessionLookupAnswer(requestID: "r8", askedOn: "node-a", node: "node-x", target: .connections)
        let last = try #require(beyond.carrying("{" + String(repeating: "y", count: 6) + "}", maxBytes: 4))
        #expect(!registry.deliver(last[0]), "beyond what a request holds")
        #expect(registry.deliver(SessionLookupAnswer(requestID: "r8", askedOn: "node-a", node: "node-y", target: .connections)), "a whole answer still comes")
        bounded.close()
    }

    @Test func aRemovalClosedWithoutCollectingStopsListening() {
        let registry = NodeAnswers<UserRemovalAnswer>()
        let pending = registry.open("r4")
        #expect(registry.pendingCount == 1)
        pending.close()
        #expect(registry.pendingCount == 0)
        #expect(!registry.deliver(Self.answer("node-b", to: "r4")))
    }
}
