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

    @Test func aRemovalClosedWithoutCollectingStopsListening() {
        let registry = NodeAnswers<UserRemovalAnswer>()
        let pending = registry.open("r4")
        #expect(registry.pendingCount == 1)
        pending.close()
        #expect(registry.pendingCount == 0)
        #expect(!registry.deliver(Self.answer("node-b", to: "r4")))
    }
}
