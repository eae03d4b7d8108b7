/// Sends subscribe and unsubscribe requests a window at a time, under the broker's rate limit.
///
/// The broker refuses a client's messages past its token bucket (by default a burst of 40, then 20
/// a second) with `rate_limited`, and closes a client it keeps refusing for 2 s without a pause of
/// 0.5 s in between: re-subscribing 100 subscriptions in one burst had 60 refused. So at most
/// `window` requests are unanswered at a time, the next going out as replies come back. After a
/// `rate_limited` nothing more goes out until `retryDelay` (1 s by default) has passed
/// and the bucket refilled; then the session machine queues again what the broker does not hold,
/// less what is still in flight.
///
/// Replies come back faster than the bucket refills, so a round that runs into the limit ends with
/// a window's worth of refusals, requests sent for nothing; each refusal halves the window for the
/// rest of the connection, so later rounds waste fewer.
///
/// Each request carries an id, counted from 1 on each connection, and the broker echoes it in its
/// reply (`subscribed`, `unsubscribed` or `error`): a reply answers the request it names, and an
/// error naming another (an alert request's, a ping's) frees no room. A broker older than request
/// ids echoes none; it answers in request order, so a reply without an id answers the oldest
/// request in flight, unless it is an error the broker sends unprompted.
struct SubscriptionPacer: Equatable {
    /// Errors the broker sends of its own accord, not in answer to a request.
    private static let unprompted: Set<String> = ["resume_failed", "resume_incomplete", "invalid_since", "invalid_price_interval", "subscription_dropped"]

    /// The most requests unanswered at a time on a new connection.
    let window: Int
    /// The most requests unanswered at a time now: `window`, halved by each refusal.
    private(set) var currentWindow: Int
    /// How long to send nothing after a `rate_limited`.
    let retryDelay: Duration
    /// Requests waiting for room in the window, oldest first; at most one per subscription.
    private(set) var queued: [ClientCommand] = []
    /// Requests sent on this connection and not answered yet, oldest first.
    private(set) var inFlight: [IdentifiedCommand] = []
    /// The id of the next request sent; `IdentifiedCommand.untrackedID` is below the first.
    private var nextID: UInt64 = 1
    /// True from a `rate_limited` until `retry`.
    private(set) var isHeldBack = false

    /// A pacer; the defaults keep 10 requests in flight and wait 1 s after a refusal.
    init(window: Int = 10, retryDelay: Duration = .seconds(1)) {
        self.window = max(1, window)
        currentWindow = self.window
        self.retryDelay = retryDelay
    }

    /// A new connection: nothing is queued, in flight or held back, and ids count from 1 again.
    mutating func reset() {
        queued = []
        inFlight = []
        nextID = 1
        isHeldBack = false
        currentWindow = window
    }

    /// Queues `commands`, each replacing a queued request for the same subscription; returns the
    /// requests to send now.
    mutating func enqueue(_ commands: [ClientCommand]) -> [IdentifiedCommand] {
        for command in commands {
            guard let subscription = command.subscription else { continue }
            queued.removeAll { $0.subscription == subscription }
            queued.append(command)
        }
        return takeSendable()
    }

    /// Takes a broker message and the request id it echoes; returns the requests to send now and,
    /// after a refusal for the rate limit, the wait after which `retry` must be called.
    /// Also returns the request an error answered, when it was one of these.
    mutating func received(
        _ message: BrokerMessage, requestID: UInt64?
    ) -> (send: [IdentifiedCommand], retryAfter: Duration?, refused: ClientCommand?) {
        var retryAfter: Duration?
        var refused: ClientCommand?
        switch message {
        case .subscribed, .unsubscribed:
            answer(requestID)
        case .error(let error) where requestID != nil || !Self.unprompted.contains(error.error):
            refused = answer(requestID)?.command
            // Whichever message it refused, the bucket is empty.
            if error.error == "rate_limited", !isHeldBack {
                isHeldBack = true
                currentWindow = max(1, currentWindow / 2)
                retryAfter = retryDelay
            }
        default:
            return ([], nil, nil)
        }
        return (takeSendable(), retryAfter, refused)
    }

    /// The wait after a refusal is over: queues `commands` (what the broker still lacks), less
    /// those still in flight, which would go out twice, and returns the requests to send now.
    mutating func retry(_ commands: [ClientCommand]) -> [IdentifiedCommand] {
        isHeldBack = false
        return enqueue(commands.filter { command in !inFlight.contains { $0.command == command } })
    }

    /// The request with `id` is answered; without an id (a broker older than request ids) the
    /// oldest one.
    @discardableResult
    private mutating func answer(_ id: UInt64?) -> IdentifiedCommand? {
        if let id {
            guard let index = inFlight.firstIndex(where: { $0.id == id }) else { return nil }
            return inFlight.remove(at: index)
        }
        return inFlight.isEmpty ? nil : inFlight.removeFirst()
    }

    /// Moves queued requests out while the window has room and no refusal holds them back.
    private mutating func takeSendable() -> [IdentifiedCommand] {
        guard !isHeldBack else { return [] }
        let count = min(max(0, currentWindow - inFlight.count), queued.count)
        var sendable: [IdentifiedCommand] = []
        for command in queued.prefix(count) {
            sendable.append(IdentifiedCommand(command: command, id: nextID))
            nextID += 1
        }
        queued.removeFirst(count)
        inFlight += sendable
        return sendable
    }
}
