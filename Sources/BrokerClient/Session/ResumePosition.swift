/// The journal position a reconnecting client asks the broker to replay from (`since`).
///
/// It is the highest seq of any push or `subscribed`/`unsubscribed` reply the client received (a
/// reply's seq is the one its change was applied at: every push before it has arrived, so a resume
/// from it does not replay news published before a news subscription). The broker delivers a connection's seqs
/// in order, also when it merges a slow client's price updates (a merged update never overtakes a
/// bar, news item or alert), and a resume replays what was missed before the latest prices. So
/// every bar, news item and alert after `since` is one the client has not seen, and nothing is
/// skipped; and the broker's replay reads the journal only from the last push, not from the
/// connect of a client that gets prices only.
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
        case .priceUpdate, .klineUpdate, .newsUpdate, .alert, .other, .subscribed, .unsubscribed:
            if let seq = message.seq { since = max(since ?? 0, seq) }
        case .alertSet, .alertRemoved, .alertRules, .pong, .error:
            break
        }
    }
}
