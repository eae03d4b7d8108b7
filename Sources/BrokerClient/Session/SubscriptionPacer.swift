/// Sends subscribe and unsubscribe requests a window at a time, under the broker's rate limit.
///
/// The broker refuses a client's messages past its token bucket (by default a burst of 40, then 20
/// a second) with `rate_limited`, and closes a client it keeps refusing for 2 s without a quiet
/// second in between: re-subscribing 100 subscriptions in one burst had 60 refused. So at most
/// `window` requests are unanswered at a time, the next going out as replies come back. After a
/// `rate_limited` nothing more goes out until `retryDelay` (a quiet second, by default) has passed
/// and the bucket refilled; then the session machine queues again what the broker does not hold.
///
/// Replies come back faster than the bucket refills, so a round that runs into the limit ends with
/// a window's worth of refusals, requests sent for nothing; each refusal halves the window for the
/// rest of the connection, so later rounds waste fewer.
///
/// Replies carry no request id, so the pacer counts them: any `subscribed`, `unsubscribed` or
/// `error` answers one request. An error in answer to something else (an alert request, a ping)
/// only makes room one request early.
struct SubscriptionPacer: Equatable {
    /// Errors the broker sends of its own accord, not in answer to a request.
    private static let unprompted: Set<String> = ["resume_failed", "resume_incomplete", "invalid_since", "subscription_dropped"]

    /// The most requests unanswered at a time on a new connection.
    let window: Int
    /// The most requests unanswered at a time now: `window`, halved by each refusal.
    private(set) var currentWindow: Int
    /// How long to send nothing after a `rate_limited`.
    let retryDelay: Duration
    /// Requests waiting for room in the window, oldest first; at most one per subscription.
    private(set) var queued: [ClientCommand] = []
    /// Requests sent on this connection and not answered yet.
    private(set) var unanswered = 0
    /// True from a `rate_limited` until `retry`.
    private(set) var isHeldBack = false

    /// A pacer; the defaults keep 10 requests in flight and wait 1 s after a refusal.
    init(window: Int = 10, retryDelay: Duration = .seconds(1)) {
        self.window = max(1, window)
        currentWindow = self.window
        self.retryDelay = retryDelay
    }

    /// A new connection: nothing is queued, unanswered or held back.
    mutating func reset() {
        queued = []
        unanswered = 0
        isHeldBack = false
        currentWindow = window
    }

    /// Queues `commands`, each replacing a queued request for the same subscription; returns the
    /// requests to send now.
    mutating func enqueue(_ commands: [ClientCommand]) -> [ClientCommand] {
        for command in commands {
            guard let subscription = command.subscription else { continue }
            queued.removeAll { $0.subscription == subscription }
            queued.append(command)
        }
        return takeSendable()
    }

    /// Takes a broker message; returns the requests to send now and, after a refusal for the rate
    /// limit, the wait after which `retry` must be called.
    mutating func received(_ message: BrokerMessage) -> (send: [ClientCommand], retryAfter: Duration?) {
        var retryAfter: Duration?
        switch message {
        case .subscribed, .unsubscribed:
            unanswered = max(0, unanswered - 1)
        case .error(let error) where !Self.unprompted.contains(error.error):
            unanswered = max(0, unanswered - 1)
            if error.error == "rate_limited", !isHeldBack {
                isHeldBack = true
                currentWindow = max(1, currentWindow / 2)
                retryAfter = retryDelay
            }
        default:
            return ([], nil)
        }
        return (takeSendable(), retryAfter)
    }

    /// The wait after a refusal is over: queues `commands` (what the broker still lacks) and
    /// returns the requests to send now.
    mutating func retry(_ commands: [ClientCommand]) -> [ClientCommand] {
        isHeldBack = false
        return enqueue(commands)
    }

    /// Moves queued requests out while the window has room and no refusal holds them back.
    private mutating func takeSendable() -> [ClientCommand] {
        guard !isHeldBack else { return [] }
        let count = min(max(0, currentWindow - unanswered), queued.count)
        let sendable = Array(queued.prefix(count))
        queued.removeFirst(count)
        unanswered += count
        return sendable
    }
}
