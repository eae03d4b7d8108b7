import Publishers
import Synchronization

/// The other nodes' answers to what this node was asked for and handed to them (a user's removal,
/// `UserRemovalAnswer`; a session it does not have, removed, `SessionRemovalAnswer`, or looked up,
/// `SessionLookupAnswer`): the request waits for the nodes it knows (`ClusterNodes`) to say what
/// they did or have, so the operator's answer covers every node, and names the nodes that did not
/// answer in time.
final class NodeAnswers<Answer: NodeAnswer>: Sendable {
    /// What came back for one request.
    struct Collected: Sendable, Equatable {
        /// The answers, by node id (one per node: a second from the same node replaces the first).
        var answers: [String: Answer] = [:]
        /// The nodes waited for that did not answer in time, sorted.
        var unanswered: [String] = []
    }

    /// A request whose answers are awaited: opened before the request goes out, so no answer
    /// comes before anyone listens.
    struct Pending: Sendable {
        let requestID: String
        fileprivate let answers: AsyncStream<Answer>
        fileprivate let continuation: AsyncStream<Answer>.Continuation
        fileprivate let owner: NodeAnswers

        /// Waits until each node of `nodes` has answered, an answer is `enough` (the one node with
        /// the session looked for has answered) or `deadline` has passed, then stops listening.
        /// Answers of other nodes that come meanwhile are kept too (a node that started since the
        /// last heartbeats).
        func collect(
            from nodes: Set<String>, until deadline: ContinuousClock.Instant, enough: (Answer) -> Bool = { _ in false }
        ) async -> Collected {
            defer { close() }
            var collected = Collected()
            if !nodes.isEmpty {
                let timer = Task { [continuation] in
                    try? await Task.sleep(until: deadline)
                    continuation.finish()
                }
                defer { timer.cancel() }
                for await answer in answers {
                    collected.answers[answer.node] = answer
                    if enough(answer) || nodes.isSubset(of: collected.answers.keys) { break }
                }
            }
            collected.unanswered = nodes.subtracting(collected.answers.keys).sorted()
            return collected
        }

        /// Stops listening (the request did not go out, or failed here); answers that come later
        /// are dropped.
        func close() {
            owner.close(requestID)
        }
    }

    /// Most answers kept per request: a node per answer, and no deployment runs more nodes than
    /// `ClusterNodes` shows (anything that can PUBLISH to Redis can send answers).
    private static var maxAnswers: Int { ClusterNodes.maxNodes }
    /// Most parts of answers that come in parts held per request until their answers are whole:
    /// eight nodes' answers of the most parts at once (with `SessionLookupAnswer`'s, 128 MiB).
    /// Parts beyond it are dropped, and their nodes' answers are not whole in time.
    static var maxHeldParts: Int { 8 * SessionLookupAnswer.maxParts }

    /// A request's listener, the answers it was given, and the parts of answers not yet whole.
    private struct Waiting {
        let continuation: AsyncStream<Answer>.Continuation
        var count = 0
        /// By node: the parts of its answer that came, at their index.
        var parts: [String: [Answer?]] = [:]
        var heldParts = 0
    }

    private let waiting = Mutex<[String: Waiting]>([:])

    /// What becomes of an answer delivered.
    private enum Delivery {
        case dropped
        case held
        /// The answer, whole (all its parts), for the request's listener.
        case whole([Answer], AsyncStream<Answer>.Continuation)
    }

    /// Starts listening for the answers to a new request, whose id (16 random hex digits) the
    /// request is to carry.
    func open() -> Pending {
        open(NodeOrigin.newInstanceID())
    }

    /// Starts listening for the answers to `requestID`.
    func open(_ requestID: String) -> Pending {
        let (answers, continuation) = AsyncStream.makeStream(of: Answer.self)
        waiting.withLock { $0[requestID] = Waiting(continuation: continuation) }
        return Pending(requestID: requestID, answers: answers, continuation: continuation, owner: self)
    }

    /// Takes an answer heard from another node; one to a request nobody waits for (any more) is
    /// dropped. A part of an answer in parts is held until the node's answer is whole, which is
    /// then handed on. Returns whether it was awaited.
    @discardableResult
    func deliver(_ answer: Answer) -> Bool {
        let delivery = waiting.withLock { waiting -> Delivery in
            guard let entry = waiting[answer.requestID], entry.count < Self.maxAnswers else { return .dropped }
            guard answer.parts > 1 else {
                waiting[answer.requestID]?.count += 1
                return .whole([answer], entry.continuation)
            }
            guard answer.part >= 0, answer.part < answer.parts else { return .dropped }
            // A node answers once: parts counted differently are of another answer, which replaces these.
            var held = entry.parts[answer.node] ?? []
            if held.count != answer.parts {
                let dropping = held.count(where: { $0 != nil })
                held = Array(repeating: nil, count: answer.parts)
                waiting[answer.requestID]?.heldParts -= dropping
            }
            if held[answer.part] == nil {
                guard (waiting[answer.requestID]?.heldParts ?? 0) < Self.maxHeldParts else { return .dropped }
                waiting[answer.requestID]?.heldParts += 1
            }
            held[answer.part] = answer
            guard held.allSatisfy({ $0 != nil }) else {
                waiting[answer.requestID]?.parts[answer.node] = held
                return .held
            }
            waiting[answer.requestID]?.parts[answer.node] = nil
            waiting[answer.requestID]?.heldParts -= held.count
            waiting[answer.requestID]?.count += 1
            return .whole(held.compactMap { $0 }, entry.continuation)
        }
        switch delivery {
        case .dropped:
            NodeRequestMetrics.unawaited()
            return false
        case .held:
            return true
        case .whole(let parts, let continuation):
            // Joined here, not under the lock: a whole answer in parts is up to 16 MiB.
            guard let whole = parts.count == 1 ? parts[0] : Answer.joined(parts) else {
                NodeRequestMetrics.unawaited()
                return false
            }
            continuation.yield(whole)
            return true
        }
    }

    /// How many requests wait for answers.
    var pendingCount: Int { waiting.withLock { $0.count } }

    private func close(_ requestID: String) {
        waiting.withLock { $0.removeValue(forKey: requestID) }?.continuation.finish()
    }
}
