import DequeModule

/// The ids of the newest `capacity` news items, in publish order: what a new item's id must not
/// repeat. Far more than the items kept whole (`Projection.newsCapacity`), so a feeder that retries,
/// or replays a day's news after a restart, is told `duplicate_news` instead of publishing again.
public struct NewsIDWindow: Sendable, Equatable {
    /// How many ids are kept; the oldest go first past it.
    public static let capacity = 10_000

    private(set) var order: Deque<String> = []
    private var members: Set<String> = []

    public init() {}

    /// The ids kept, oldest first.
    public var ids: Deque<String> { order }

    public func contains(_ id: String) -> Bool { members.contains(id) }

    /// Makes `id` the newest; false when it was kept already (then it moves to the end: journals
    /// from before the window could repeat an id published longer ago than the items kept whole).
    @discardableResult
    mutating func append(_ id: String) -> Bool {
        let isNew = members.insert(id).inserted
        if !isNew, let index = order.firstIndex(of: id) { order.remove(at: index) }
        order.append(id)
        while order.count > Self.capacity { members.remove(order.removeFirst()) }
        return isNew
    }
}
