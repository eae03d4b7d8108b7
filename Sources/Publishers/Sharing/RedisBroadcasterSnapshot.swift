/// A consistent copy of the outbound publisher's state and counters, for stats.
public struct RedisBroadcasterSnapshot: Sendable, Hashable, Encodable {
    /// `connected`, `connecting`, `backingOff` (Redis is down: offers are dropped) or `stopped`.
    public var state: RedisSourceState = .stopped
    /// The node id the messages are tagged with.
    public var node: String
    /// Updates waiting for the publisher thread.
    public var queued: Int = 0
    /// Most updates that may wait; more are dropped.
    public var capacity: Int
    /// About how many bytes the waiting updates take (`SharedUpdate.approximateBytes`).
    public var queuedBytes: Int = 0
    /// Most bytes that may wait; an update past them is dropped (one alone is always taken).
    public var capacityBytes: Int = 0
    /// Messages Redis accepted (PUBLISH answered); the node's heartbeats are not counted here.
    public var published: Int = 0
    /// Updates not published: Redis down or refusing, the queue full, or offered after stop.
    public var dropped: Int = 0
    /// Updates published without their entry in the shared log, which Redis refused (maxmemory
    /// reached, an ACL on XADD): the other nodes got them, a node that was down will not.
    public var notLogged: Int = 0
    /// Updates for the shared log held while Redis is down, to be appended when it is back.
    public var held: Int = 0
    /// Updates held during an outage and appended to the shared log afterwards (not published).
    public var appendedLate: Int = 0
    /// Times the connection was lost or could not be made after working (the first failure of each outage).
    public var outages: Int = 0
    /// The most recent failure.
    public var lastError: String?

    enum CodingKeys: String, CodingKey {
        case state, node, queued, held, capacity, published, dropped, outages
        case lastError = "last_error"
        case notLogged = "not_logged"
        case appendedLate = "appended_late"
        case queuedBytes = "queued_bytes"
        case capacityBytes = "capacity_bytes"
    }
}
