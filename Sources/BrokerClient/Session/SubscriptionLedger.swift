/// What the client wants to be subscribed to, and what the broker's session holds.
///
/// After a connect reply it says what to send: a fresh session gets every wanted subscription; a
/// resumed one already holds its old set, so it gets only the changes made while disconnected.
struct SubscriptionLedger: Equatable {
    /// What the user asked for, across reconnections.
    private(set) var wanted: Set<Subscription>
    /// What the broker confirmed for the current session (`subscribed` minus `unsubscribed`).
    private(set) var held: Set<Subscription> = []
    /// Wanted subscriptions the broker refused for another reason than its rate limit
    /// (`too_many_subscriptions`, an invalid target…): not asked for again until the user
    /// subscribes to them again or a fresh session opens.
    private(set) var declined: Set<Subscription> = []
    /// Subscriptions with a request sent and never answered before the connection went: the
    /// broker may or may not have carried it out, so a resumed session asks again for what is
    /// wanted of them, whatever `held` says.
    private(set) var uncertain: Set<Subscription> = []

    init(wanted: [Subscription]) {
        self.wanted = Set(wanted.map(Self.normalized))
    }

    /// A client has one alerts subscription, its own: the broker confirms `alerts`/`me` as
    /// `alerts`/<its user>, so every alerts target is kept as `Subscription.alerts`.
    static func normalized(_ subscription: Subscription) -> Subscription {
        subscription.kind == .alerts ? .alerts : subscription
    }

    /// The requests that make the session hold exactly what is wanted, after `connected` answered
    /// a connect that asked to resume `requestedClientID` (nil: a fresh connect).
    mutating func afterConnect(_ connected: Connected, requestedClientID: String?) -> [ClientCommand] {
        defer { uncertain = [] }
        guard connected.resumed, connected.clientID == requestedClientID else {
            held = []
            declined = []
            return wanted.sorted().map(ClientCommand.subscribe)
        }
        // A request sent just before the connection broke may or may not have been carried out:
        // asked again (the broker answers an existing subscription as new, and an unsubscribe of
        // one it does not hold with `not_subscribed`), after the changes, which it replaces.
        let again = uncertain.sorted().map { wanted.contains($0) ? ClientCommand.subscribe($0) : .unsubscribe($0) }
        return changes() + again.filter { if case .subscribe(let s) = $0 { !declined.contains(s) } else { true } }
    }

    /// The requests for `subscriptions` went unanswered with the connection.
    mutating func lostAnswers(for subscriptions: [Subscription]) {
        uncertain.formUnion(subscriptions.map(Self.normalized))
    }

    /// The requests that make the session hold what is wanted: subscribes for what it lacks,
    /// unsubscribes for what is no longer wanted.
    func changes() -> [ClientCommand] {
        wanted.subtracting(held).subtracting(declined).sorted().map(ClientCommand.subscribe)
            + held.subtracting(wanted).sorted().map(ClientCommand.unsubscribe)
    }

    /// Takes the broker's confirmations.
    mutating func observe(_ message: BrokerMessage) {
        switch message {
        case .subscribed(let subscription, _): held.insert(Self.normalized(subscription))
        case .unsubscribed(let subscription, _): held.remove(Self.normalized(subscription))
        default: break
        }
    }

    /// Whether the broker confirmed `subscription` for the current session.
    func holds(_ subscription: Subscription) -> Bool {
        held.contains(Self.normalized(subscription))
    }

    /// The broker refused `command` with `error` (not its rate limit): a subscribe is not asked for
    /// again; an unsubscribe of what it does not hold (`not_subscribed`) means it is not held.
    mutating func refused(_ command: ClientCommand, error: String) {
        switch command {
        case .subscribe(let subscription): declined.insert(Self.normalized(subscription))
        case .unsubscribe(let subscription) where error == "not_subscribed": held.remove(Self.normalized(subscription))
        default: break
        }
    }

    /// Adds `subscription` to what is wanted (asked again, one refused is asked for again); true if
    /// it was not wanted yet.
    mutating func want(_ subscription: Subscription) -> Bool {
        declined.remove(Self.normalized(subscription))
        return wanted.insert(Self.normalized(subscription)).inserted
    }

    /// Removes `subscription` from what is wanted; true if it was wanted.
    mutating func drop(_ subscription: Subscription) -> Bool {
        wanted.remove(Self.normalized(subscription)) != nil
    }
}
