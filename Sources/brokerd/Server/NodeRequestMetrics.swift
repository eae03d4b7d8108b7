import Metrics

/// What the requests nodes hand each other through Redis come to (`NodeAnswers`): those this node
/// asked, how they ended and how long they waited; those it was asked, and answers that came when
/// nothing waited for them any more. `kind` is the request's wire key (`SharedUpdate.requestKind`).
enum NodeRequestMetrics {
    /// How a request this node handed to the other nodes ended.
    enum Outcome: String {
        /// Every node waited for answered, or the one with the session looked for did.
        case answered
        /// A node known by its heartbeats did not answer in time (the response names it).
        case partial
        /// The request could not go out: Redis is away, or the outbound queue is full.
        case unreachable
    }

    /// What this node did with a request another node (or an operator's tool) handed to it.
    enum Received: String {
        /// Acted on and answered.
        case answered
        /// Acted on; nobody waits for an answer (an untagged removal from an operator's tool).
        case acted
        /// Too old to act on (`OperatorRemoval.isStale`): left alone.
        case stale
    }

    static let requestsLabel = "brokerd_node_requests_total"
    static let durationLabel = "brokerd_node_request_seconds"
    static let missedLabel = "brokerd_node_answers_missed_total"
    static let receivedLabel = "brokerd_node_requests_received_total"
    static let unawaitedLabel = "brokerd_node_answers_unawaited_total"

    /// Buckets of `durationLabel`: answers come in milliseconds, the wait ends at
    /// `redis_answer_wait` (6 s by default) at most.
    static let durationBuckets: [Duration] = [
        .milliseconds(1), .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .microseconds(2_500_000), .seconds(5), .seconds(10),
        .seconds(30), .seconds(60),
    ]

    /// A request of `kind` that this node could not hand to the others.
    static func unreachable(_ kind: String) {
        Counter(label: requestsLabel, dimensions: [("kind", kind), ("outcome", Outcome.unreachable.rawValue)]).increment()
    }

    /// A request of `kind` whose wait for the answers ended after `waited`, with `missed` of the
    /// nodes waited for not answering in time (0 when the answer looked for came).
    static func ended(_ kind: String, waited: Duration, missed: Int) {
        let outcome: Outcome = missed == 0 ? .answered : .partial
        Counter(label: requestsLabel, dimensions: [("kind", kind), ("outcome", outcome.rawValue)]).increment()
        Metrics.Timer(label: durationLabel, dimensions: [("kind", kind)]).record(duration: waited)
        if missed > 0 { Counter(label: missedLabel, dimensions: [("kind", kind)]).increment(by: missed) }
    }

    /// A request of `kind` another node handed to this one.
    static func received(_ kind: String, _ result: Received) {
        Counter(label: receivedLabel, dimensions: [("kind", kind), ("result", result.rawValue)]).increment()
    }

    /// An answer to a request of this node's that nothing waits for: it came after the wait had
    /// ended (a slow node), or more came than a cluster has nodes.
    static func unawaited() {
        Counter(label: unawaitedLabel).increment()
    }
}
