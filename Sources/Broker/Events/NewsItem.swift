/// Payload of `news_published`.
public struct NewsItem: Sendable, Hashable, Codable {
    /// Publisher-assigned unique id.
    public var id: String
    /// Headline.
    public var title: String
    /// Short summary.
    public var summary: String
    /// Link to the full article.
    public var url: String
    /// Stock codes the item is about.
    public var codes: [String]
    /// Category; `news` subscriptions match it or `all`.
    public var category: String
    /// Publication time, UTC microseconds.
    public var publishedAt: Int64

    /// Creates a news item.
    public init(
        id: String, title: String, summary: String, url: String, codes: [String], category: String,
        publishedAt: Int64
    ) {
        self.id = id
        self.title = title
        self.summary = summary
        self.url = url
        self.codes = codes
        self.category = category
        self.publishedAt = publishedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, title, summary, url, codes, category
        case publishedAt = "published_at"
    }
}
