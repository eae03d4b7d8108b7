/// The `data` of a `news_update`.
public struct NewsItem: Sendable, Hashable, Decodable {
    /// Unique id of the item.
    public let id: String
    public let title: String
    public let summary: String
    public let url: String
    /// Stock codes the item is about.
    public let codes: [String]
    public let category: String
    /// Publication time, UTC microseconds since 1970.
    public let publishedAt: Int64

    enum CodingKeys: String, CodingKey {
        case id, title, summary, url, codes, category
        case publishedAt = "published_at"
    }
}
