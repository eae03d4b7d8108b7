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
///
/// Subscribes of one kind waiting together go out as one request (`targets`, up to `batchLimit`):
/// a fresh session re-subscribing a watchlist of 100 stocks sends one message, not 100 paced by the
/// rate limit over seconds. The broker confirms each subscription with its own `subscribed`, all
/// echoing the batch's id; the batch is answered when all have come. It takes a batch all or none,
/// so a refused batch (one target not allowed, the subscription limit, a broker older than
/// `targets`) is asked for again one subscription per request, each to its own answer.
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
    /// The most subscriptions one subscribe request carries; 1 sends one per request.
    let batchLimit: Int
    /// The most targets the broker takes in one request.
    static let brokerBatchLimit = 1_000
    /// Subscriptions asked for one per request on this connection: a batch holding them was refused.
    private(set) var unbatched: Set<Subscription> = []
    /// How many `subscribed` each batch in flight still waits for, by its id.
    private var awaitedConfirmations: [UInt64: Int] = [:]

    /// A pacer; the defaults keep 10 requests in flight, wait 1 s after a refusal and send one
    /// subscription per request.
    init(window: Int = 10, retryDelay: Duration = .seconds(1), batchLimit: Int = 1) {
        self.window = max(1, window)
        currentWindow = self.window
        self.retryDelay = retryDelay
        self.batchLimit = max(1, batchLimit)
    }

    /// A new connection: nothing is queued, in flight or held back, ids count from 1 again, and
    /// batches may be tried again.
    mutating func reset() {
        queued = []
        inFlight = []
        nextID = 1
        isHeldBack = false
        currentWindow = window
        unbatched = []
        awaitedConfirmations = [:]
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
    /// Also returns the request an error answered, when it was one of these, and whether the
    /// error refused a batch whose subscriptions are now asked for one by one (`askedAlone`: the
    /// error is no answer to anything the user asked; theirs come to those requests).
    mutating func received(
        _ message: BrokerMessage, requestID: UInt64?
    ) -> (send: [IdentifiedCommand], retryAfter: Duration?, refused: ClientCommand?, askedAlone: Bool) {
        var retryAfter: Duration?
        var refused: ClientCommand?
        var askedAlone = false
        switch message {
        case .subscribed, .unsubscribed:
            answer(requestID, confirming: true)
        case .error(let error) where requestID != nil || !Self.unprompted.contains(error.error):
            let answered = answer(requestID)?.command
            if case .subscribeAll(let batch)? = answered, error.error != "rate_limited" {
                // Each alone, ahead of the rest, to its own answer: all but a refused one may do.
                unbatched.formUnion(batch)
                let alone = batch.filter { subscription in !queued.contains { $0.subscription == subscription } }
                queued.insert(contentsOf: alone.map(ClientCommand.subscribe), at: 0)
                askedAlone = true
            } else {
                refused = answered
            }
            // Whichever message it refused, the bucket is empty.
            if error.error == "rate_limited", !isHeldBack {
                isHeldBack = true
                currentWindow = max(1, currentWindow / 2)
                retryAfter = retryDelay
            }
        default:
            return ([], nil, nil, false)
        }
        return (takeSendable(), retryAfter, refused, askedAlone)
    }

    /// The wait after a refusal is over: queues `commands` (what the broker still lacks), less
    /// those still in flight, which would go out twice, and returns the requests to send now.
    mutating func retry(_ commands: [ClientCommand]) -> [IdentifiedCommand] {
        isHeldBack = false
        return enqueue(commands.filter { command in !inFlight.contains { $0.command.covers(command) } })
    }

    /// The request with `id` is answered (a batch by the last of its confirmations when
    /// `confirming`); without an id (a broker older than request ids) the oldest one.
    @discardableResult
    private mutating func answer(_ id: UInt64?, confirming: Bool = false) -> IdentifiedCommand? {
        if let id {
            guard let index = inFlight.firstIndex(where: { $0.id == id }) else { return nil }
            if confirming, let awaited = awaitedConfirmations[id], awaited > 1 {
                awaitedConfirmations[id] = awaited - 1
                return nil
            }
            awaitedConfirmations[id] = nil
            return inFlight.remove(at: index)
        }
        return inFlight.isEmpty ? nil : inFlight.removeFirst()
    }

    /// Moves queued requests out while the window has room and no refusal holds them back.
    private mutating func takeSendable() -> [IdentifiedCommand] {
        guard !isHeldBack else { return [] }
        var sendable: [IdentifiedCommand] = []
        while inFlight.count + sendable.count < currentWindow, !queued.isEmpty {
            let command = batch(startingWith: queued.removeFirst())
            if case .subscribeAll(let batch) = command { awaitedConfirmations[nextID] = batch.count }
            sendable.append(IdentifiedCommand(command: command, id: nextID))
            nextID += 1
        }
        inFlight += sendable
        return sendable
    }

    /// `command`, or when it is a subscribe that may go in a batch and others of its kind are
    /// queued, a batch of it and them (taken out of the queue), up to `batchLimit`.
    private mutating func batch(startingWith command: ClientCommand) -> ClientCommand {
        func batchable(_ command: ClientCommand) -> Subscription? {
            guard case .subscribe(let subscription) = command, subscription.kind != .alerts, !unbatched.contains(subscription) else { return nil }
            return subscription
        }
        guard batchLimit > 1, let first = batchable(command) else { return command }
        var batch = [first]
        var rest: [ClientCommand] = []
        for queuedCommand in queued {
            if batch.count < batchLimit, let other = batchable(queuedCommand), other.kind == first.kind {
                batch.append(other)
            } else {
                rest.append(queuedCommand)
            }
        }
        guard batch.count > 1 else { return command }
        queued = rest
        return .subscribeAll(batch)
    }
}
