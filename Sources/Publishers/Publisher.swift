import Broker

/// The extension point: turns applied events into pushes for the right subscribers.
///
/// `publish` runs on the event store's executor right after the events were applied, with the
/// projection as of the last of them, so it must only look things up and queue pushes. Work that
/// waits — journaling a decision such as an alert firing — belongs in `run`, which the broker
/// starts with the service and restarts with backoff if it throws.
public protocol Publisher: Sendable {
    /// Name for logs and metrics.
    var name: String { get }
    /// The event kinds `publish` is called for.
    var kinds: Set<EventKind> { get }
    /// Turns `events` (only of `kinds`, in seq order) into pushes.
    func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws
    /// Background work for the broker's lifetime; returns or throws to end it, is cancelled at shutdown.
    func run(_ context: PublisherContext) async throws
}

extension Publisher {
    public func run(_ context: PublisherContext) async throws {}
}

/// What a publisher's `run` may use: the broker's public API.
public struct PublisherContext: Sendable {
    /// The store, to read the projection and to execute commands.
    public let store: EventStore
    /// The last seq this process replayed at start-up rather than published: state a publisher
    /// keeps in memory (such as bars being built) can be rebuilt from the journal up to here.
    /// 0 when there was nothing before.
    public let replayedThrough: UInt64
    /// The latest tick of every code as of `replayedThrough`: where each code's cumulative figures
    /// (the day's volume) stood when this process took over. Empty when there was nothing before.
    public let pricesAtStart: [String: PriceTick]

    public init(store: EventStore, replayedThrough: UInt64 = 0, pricesAtStart: [String: PriceTick] = [:]) {
        self.store = store
        self.replayedThrough = replayedThrough
        self.pricesAtStart = pricesAtStart
    }
}

/// A message for clients.
public enum Push: Sendable {
    /// Latest prices of a subscription's codes: `price_update`, coalesced per code for slow clients.
    case prices([PriceTick])
    /// Any other message: `{"type": type, "data": data, "seq", "timestamp", …}`.
    case message(type: String, data: any Encodable & Sendable)
}

/// Where publishers send pushes: implemented by the server, which encodes each push once and
/// queues it to every recipient's connection.
///
/// The sink `publish` gets holds a batch's pushes until every publisher has run, then sends them
/// on in seq order (so a connection never gets a lower seq after a higher one); its counts are
/// 0 then.
public protocol PushSink: Sendable {
    /// Sends `push` to every live subscriber of `subscription`; returns how many connections got it.
    @discardableResult
    func send(_ push: Push, seq: UInt64, to subscription: Subscription, projection: Projection) -> Int
    /// Sends `push` once to every live subscriber of any of `subscriptions`, naming the first of
    /// them that the client subscribes to; returns how many connections got it.
    @discardableResult
    func send(_ push: Push, seq: UInt64, toAnyOf subscriptions: [Subscription], projection: Projection) -> Int
    /// Sends `push` to every live connection of `user` (its authenticated user, or its client id).
    @discardableResult
    func send(_ push: Push, seq: UInt64, toUser user: String) -> Int
}
