import Publishers
import Synchronization

/// The other nodes' answers to the removals this node was asked for (of users' sessions,
/// `UserRemovalAnswer`, or of sessions it does not have, `SessionRemovalAnswer`): the request waits
/// for the nodes it knows (`ClusterNodes`) to say what they removed, so the operator's answer counts
/// every node's sessions, and names the nodes that did not answer in time.
final class RemovalAnswers<Answer: RemovalAnswer>: Sendable {
    /// What came back for one removal.
    struct Collected: Sendable, Equatable {
        /// The answers, by node id (one per node: a second from the same node replaces the first).
        var answers: [String: Answer] = [:]
        /// The nodes waited for that did not answer in time, sorted.
        var unanswered: [String] = []
    }

    /// A removal whose answers are awaited: opened before the removal goes out, so no answer
    /// comes before anyone listens.
    struct Pending: Sendable {
        let requestID: String
        fileprivate let answers: AsyncStream<Answer>
        fileprivate let continuation: AsyncStream<Answer>.Continuation
        fileprivate let owner: RemovalAnswers

        /// Waits until each node of `nodes` has answered or `deadline` has passed, then stops
        /// listening. Answers of other nodes that come meanwhile are kept too (a node that started
        /// since the last heartbeats).
        func collect(from nodes: Set<String>, until deadline: ContinuousClock.Instant) async -> Collected {
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
                    if nodes.isSubset(of: collected.answers.keys) { break }
                }
            }
            collected.unanswered = nodes.subtracting(collected.answers.keys).sorted()
            return collected
        }

        /// Stops listening (the removal did not go out, or failed here); answers that come later
        /// are dropped.
        func close() {
            owner.close(requestID)
        }
    }

    /// Most answers kept per removal: a node per answer, and no deployment runs more nodes than
    /// `ClusterNodes` shows (anything that can PUBLISH to Redis can send answers).
    private static var maxAnswers: Int { ClusterNodes.maxNodes }

    private let waiting = Mutex<[String: (continuation: AsyncStream<Answer>.Continuation, count: Int)]>([:])

    /// Starts listening for the answers to `requestID`.
    func open(_ requestID: String) -> Pending {
        let (answers, continuation) = AsyncStream.makeStream(of: Answer.self)
        waiting.withLock { $0[requestID] = (continuation, 0) }
        return Pending(requestID: requestID, answers: answers, continuation: continuation, owner: self)
    }

    /// Takes an answer heard from another node; one to a removal nobody waits for (any more) is
    /// dropped. Returns whether it was awaited.
    @discardableResult
    func deliver(_ answer: Answer) -> Bool {
        let continuation = waiting.withLock { waiting -> AsyncStream<Answer>.Continuation? in
            guard let entry = waiting[answer.requestID], entry.count < Self.maxAnswers else { return nil }
            waiting[answer.requestID]?.count += 1
            return entry.continuation
        }
        guard let continuation else { return false }
        continuation.yield(answer)
        return true
    }

    /// How many removals wait for answers.
    var pendingCount: Int { waiting.withLock { $0.count } }

    private func close(_ requestID: String) {
        waiting.withLock { $0.removeValue(forKey: requestID) }?.continuation.finish()
    }
}
