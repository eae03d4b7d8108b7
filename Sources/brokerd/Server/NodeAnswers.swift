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

    private let waiting = Mutex<[String: (continuation: AsyncStream<Answer>.Continuation, count: Int)]>([:])

    /// Starts listening for the answers to a new request, whose id (16 random hex digits) the
    /// request is to carry.
    func open() -> Pending {
        open(NodeOrigin.newInstanceID())
    }

    /// Starts listening for the answers to `requestID`.
    func open(_ requestID: String) -> Pending {
        let (answers, continuation) = AsyncStream.makeStream(of: Answer.self)
        waiting.withLock { $0[requestID] = (continuation, 0) }
        return Pending(requestID: requestID, answers: answers, continuation: continuation, owner: self)
    }

    /// Takes an answer heard from another node; one to a request nobody waits for (any more) is
    /// dropped. Returns whether it was awaited.
    @discardableResult
    func deliver(_ answer: Answer) -> Bool {
        let continuation = waiting.withLock { waiting -> AsyncStream<Answer>.Continuation? in
            guard let entry = waiting[answer.requestID], entry.count < Self.maxAnswers else { return nil }
            waiting[answer.requestID]?.count += 1
            return entry.continuation
        }
        guard let continuation else {
            NodeRequestMetrics.unawaited()
            return false
        }
        continuation.yield(answer)
        return true
    }

    /// How many requests wait for answers.
    var pendingCount: Int { waiting.withLock { $0.count } }

    private func close(_ requestID: String) {
        waiting.withLock { $0.removeValue(forKey: requestID) }?.continuation.finish()
    }
}
