/// The journal position a reconnecting client asks the broker to replay from (`since`).
///
/// It advances only with messages the broker delivers in seq order and never coalesces: bars,
/// news, alerts and custom pushes. Price updates do not move it: a slow client gets them merged,
/// possibly ahead of an older news item, and a resume resends the latest prices anyway. So every
/// bar, news item and alert after `since` is one the client has not seen, and nothing is skipped.
public struct ResumePosition: Sendable, Hashable {
    /// The position to resume from; nil before the first session was opened.
    public private(set) var since: UInt64?

    /// A position; nil before any session.
    public init(since: UInt64? = nil) {
        self.since = since
    }

    /// Takes what `message` says about the position.
    public mutating func observe(_ message: BrokerMessage) {
        switch message {
        case .connected(let connected):
            // A fresh session missed nothing before it began; a resumed one keeps its position
            // until the replay of what it missed (older than the connect) has come in.
            if !connected.resumed { since = connected.seq }
        case .klineUpdate, .newsUpdate, .alert, .other:
            if let seq = message.seq { since = max(since ?? 0, seq) }
        case .priceUpdate, .subscribed, .unsubscribed, .alertSet, .alertRemoved, .alertRules, .pong, .error:
            break
        }
    }
}
