/// The client's session across connections, without I/O: which session to resume from where,
/// what to send after a connect reply, which state to report, and how long to wait after a loss.
///
/// `BrokerClient` drives it with what happens on the socket and carries out what it returns.
struct SessionMachine {
    /// What to do after a message.
    struct Reaction: Equatable {
        /// Requests to send, in order.
        var commands: [IdentifiedCommand] = []
        /// The state to report, if it changed.
        var state: ConnectionState?
        /// Whether the message goes to the user's `messages`.
        var forward = true
        /// The broker refused a request for its rate limit: call `retryRefused()` after this wait.
        var retryAfter: Duration?
    }

    /// What to do after a connection ended.
    enum Retry: Equatable {
        case reconnect(attempt: Int, after: Duration)
        case giveUp
    }

    let schedule: ReconnectSchedule
    private(set) var ledger: SubscriptionLedger
    private(set) var position = ResumePosition()
    /// Subscription requests of the current connection, a window at a time.
    private(set) var pacer: SubscriptionPacer
    /// The session to resume: the last one the broker opened.
    private(set) var clientID: String?
    /// Its resume token, from its `connected`.
    private var resumeToken: String?
    /// The session the current connection asked to resume.
    private var requestedClientID: String?
    /// Failed attempts since the last session opened.
    private(set) var failures = 0
    /// True between a `connected` reply and the end of its connection.
    private(set) var isOpen = false

    init(subscriptions: [Subscription], schedule: ReconnectSchedule, pacer: SubscriptionPacer = SubscriptionPacer()) {
        ledger = SubscriptionLedger(wanted: subscriptions)
        self.schedule = schedule
        self.pacer = pacer
    }

    /// Where the next connection goes: resume the last session if there was one.
    mutating func connect(queryToken: String?) -> ConnectTarget {
        requestedClientID = clientID
        isOpen = false
        pacer.reset()
        return ConnectTarget(
            resume: clientID.map { ($0, position.since) }, queryToken: queryToken, resumeToken: clientID == nil ? nil : resumeToken)
    }

    /// Takes a message from the broker and the request id it echoes (nil for a push, and for any
    /// message of a broker older than request ids).
    mutating func received(_ message: BrokerMessage, requestID: UInt64? = nil) -> Reaction {
        position.observe(message)
        ledger.observe(message)
        let paced = pacer.received(message, requestID: requestID)
        if case .error(let error) = message, error.error != "rate_limited", let refused = paced.refused {
            ledger.refused(refused, error: error.error)
        }
        switch message {
        case .connected(let connected):
            let commands = pacer.enqueue(ledger.afterConnect(connected, requestedClientID: requestedClientID))
            let resumed = connected.resumed && connected.clientID == requestedClientID
            clientID = connected.clientID
            resumeToken = connected.resumeToken
            failures = 0
            isOpen = true
            return Reaction(
                commands: commands,
                state: resumed ? .resumed(clientID: connected.clientID) : .connected(clientID: connected.clientID),
                forward: false)
        case .pong:
            return Reaction(forward: false)
        default:
            // A refused batch is asked for again one by one: each refusal that matters answers one of those.
            return Reaction(commands: paced.send, forward: !paced.askedAlone, retryAfter: paced.retryAfter)
        }
    }

    /// The wait after a `rate_limited` is over: returns the requests for what is wanted and not
    /// held (refused ones among them), and for what is held and no longer wanted, unless already
    /// in flight.
    mutating func retryRefused() -> [IdentifiedCommand] {
        // A wait begun on an earlier connection: this one has its own requests in flight.
        guard isOpen, pacer.isHeldBack else { return [] }
        return pacer.retry(ledger.changes())
    }

    /// The connection ended; `random` in 0...1 jitters the wait.
    /// How long after the last frame the client sent a resume waits, when the broker may not know
    /// the connection is gone: it hands a session still connected to a resume only once that
    /// connection has been silent for 5 s (it may be closing, or another client's), and starts a
    /// fresh session otherwise, losing what the client missed.
    static let brokerTakeOverSilence: Duration = .milliseconds(5_500)

    /// `planned`, or longer so that a resume after `loss` comes `brokerTakeOverSilence` after the
    /// last frame sent (`sinceLastSent` ago). Not when the broker closed the connection itself: it
    /// knows the session is gone.
    static func resumeDelay(planned: Duration, after loss: ConnectionLoss, sinceLastSent: Duration?) -> Duration {
        if case .closedByBroker = loss { return planned }
        guard let sinceLastSent else { return planned }
        return max(planned, brokerTakeOverSilence - sinceLastSent)
    }

    mutating func connectionLost(random: Double) -> Retry {
        isOpen = false
        ledger.lostAnswers(for: pacer.inFlight.flatMap(\.command.subscriptions))
        pacer.reset()
        failures += 1
        guard let delay = schedule.delay(beforeAttempt: failures, random: random) else { return .giveUp }
        return .reconnect(attempt: failures, after: delay)
    }

    /// The user wants `subscription`; returns the requests to send now, if a session is open and
    /// the window has room (else it goes out later). One wanted before but not held, refused
    /// earlier say, is asked for again.
    mutating func subscribe(_ subscription: Subscription) -> [IdentifiedCommand] {
        let isNew = ledger.want(subscription)
        guard isOpen, isNew || !ledger.holds(subscription) else { return [] }
        return pacer.enqueue([.subscribe(subscription)])
    }

    /// The user no longer wants `subscription`; returns the requests to send now, if a session is
    /// open and the window has room (else it goes out later).
    mutating func unsubscribe(_ subscription: Subscription) -> [IdentifiedCommand] {
        guard ledger.drop(subscription), isOpen else { return [] }
        return pacer.enqueue([.unsubscribe(subscription)])
    }
}
