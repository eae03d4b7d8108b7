/// Where a `BrokerClient` connects, what it subscribes to, and how it keeps the connection alive.
public struct BrokerClientConfiguration: Sendable {
    /// How a token travels on the WebSocket upgrade.
    public enum TokenPlacement: Sendable, Hashable {
        /// `Authorization: Bearer <token>` (preferred: proxies log URLs).
        case authorizationHeader
        /// `?token=<token>` (what browsers must use).
        case queryParameter
    }

    /// The broker's WebSocket endpoint, e.g. `ws://127.0.0.1:8000/ws/stock/prices`. Its query is
    /// kept on every reconnect: `…/ws/stock/prices?price_interval=0.5` asks for at most one price
    /// update per subscription every 0.5 s (`Connected.priceInterval` says what the connection got).
    public var url: String
    /// The client's JWT, when the broker requires one.
    public var token: String?
    /// Called before every connection attempt for the token to send, when set (instead of
    /// `token`): a token that expires is renewed there, and the reconnect after the broker closed
    /// the connection for it (1008 `token_expired`) resumes the session with the fresh one. One
    /// that throws, or does not answer within `connectTimeout`, fails the attempt (backed off as
    /// any failed attempt); an answer after that is dropped.
    public var tokenProvider: (@Sendable () async throws -> String)?
    /// With a `tokenProvider`: how long before the connection's token expires the provider is
    /// asked for the next, which is sent over the open connection (`refresh`), so the broker does
    /// not close it at the old `exp` (never sooner than halfway through a token's life). A provider
    /// that fails, or gives no token expiring later, is asked again every 5 s until the old token
    /// expires; then the broker closes the connection and the reconnect asks it once more. Nil:
    /// never refreshed in place, the connection is closed at `exp` and resumed with a fresh token.
    public var tokenRefreshAhead: Duration?
    /// How the token is sent.
    public var tokenPlacement: TokenPlacement
    /// Subscribed on every fresh session; `subscribe`/`unsubscribe` change the set while running.
    public var subscriptions: [Subscription]
    /// How often a ping is sent. The broker closes connections silent for 90 s by default.
    public var pingInterval: Duration
    /// How long after a ping the broker has to send anything before the connection counts as dead.
    public var pongTimeout: Duration
    /// How long opening a connection may take, up to the broker's `connected` message.
    public var connectTimeout: Duration
    /// How long a closing handshake may take before the socket is dropped.
    public var closeTimeout: Duration
    /// The waits between reconnection attempts.
    public var reconnect: ReconnectSchedule
    /// The largest message accepted from the broker, in bytes.
    public var maximumMessageSize: Int
    /// Whether to offer permessage-deflate: a broker that takes it (brokerd does unless its
    /// `websocket_compression` is off) sends longer messages deflated, a third to a half of their
    /// bytes for price updates.
    public var compression: Bool
    /// How many messages wait for the consumer of `messages` before the client stops reading its
    /// socket (see `BrokerClient.Messages`).
    public var messageBufferCapacity: Int
    /// How many subscribe and unsubscribe requests may be unanswered at a time; more wait for
    /// replies, so re-subscribing many stays under the broker's per-client rate limit.
    public var subscriptionWindow: Int
    /// How long to wait after the broker refused a request for its rate limit (`rate_limited`)
    /// before asking again for the subscriptions it does not hold.
    public var rateLimitRetryDelay: Duration
    /// The most subscriptions of one kind asked for in one request (`targets`; the broker takes up
    /// to 1,000): a fresh session subscribes a whole watchlist at once. 1 asks one per request.
    public var subscriptionBatch: Int

    /// A configuration with the seed's behaviour: a ping every 30 s, reconnection after 2 s, 4 s,
    /// 8 s… up to 30 s, at most 10 attempts in a row.
    public init(
        url: String,
        token: String? = nil,
        tokenProvider: (@Sendable () async throws -> String)? = nil,
        tokenRefreshAhead: Duration? = .seconds(30),
        tokenPlacement: TokenPlacement = .authorizationHeader,
        subscriptions: [Subscription] = [],
        pingInterval: Duration = .seconds(30),
        pongTimeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(10),
        closeTimeout: Duration = .seconds(2),
        reconnect: ReconnectSchedule = ReconnectSchedule(),
        maximumMessageSize: Int = 1 << 24,
        compression: Bool = true,
        messageBufferCapacity: Int = 4_096,
        subscriptionWindow: Int = 10,
        rateLimitRetryDelay: Duration = .seconds(1),
        subscriptionBatch: Int = 1_000
    ) {
        self.url = url
        self.token = token
        self.tokenProvider = tokenProvider
        self.tokenRefreshAhead = tokenRefreshAhead
        self.tokenPlacement = tokenPlacement
        self.subscriptions = subscriptions
        self.pingInterval = pingInterval
        self.pongTimeout = pongTimeout
        self.connectTimeout = connectTimeout
        self.closeTimeout = closeTimeout
        self.reconnect = reconnect
        self.maximumMessageSize = maximumMessageSize
        self.compression = compression
        self.messageBufferCapacity = messageBufferCapacity
        self.subscriptionWindow = subscriptionWindow
        self.rateLimitRetryDelay = rateLimitRetryDelay
        self.subscriptionBatch = subscriptionBatch
    }
}
