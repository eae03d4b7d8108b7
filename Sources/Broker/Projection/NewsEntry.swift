/// A news item kept in the projection's ring buffer, with the seq that published it.
public struct NewsEntry: Sendable, Hashable {
    /// Journal seq of the `news_published` event.
    public var seq: UInt64
    /// The item.
    public var item: NewsItem

    /// Creates an entry.
    public init(seq: UInt64, item: NewsItem) {
        self.seq = seq
        self.item = item
    }
}
