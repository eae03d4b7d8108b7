/// Which rows a read yields, in seq order.
public struct JournalQuery: Sendable, Hashable {
    /// First seq to yield (inclusive).
    public var fromSeq: UInt64
    /// Last seq to yield (inclusive); nil = to the end.
    public var toSeq: UInt64?
    /// Earliest timestamp to yield, UTC microseconds (inclusive).
    public var fromTime: Int64?
    /// Latest timestamp to yield, UTC microseconds (inclusive).
    public var toTime: Int64?
    /// Only these kinds; nil = every kind.
    public var kinds: Set<UInt16>?
    /// Only rows with this key; nil = every row.
    public var key: String?
    /// Only rows whose key is one of these; nil = every row. Combines with `key` (both must hold).
    public var keys: Set<String>?

    public init(
        fromSeq: UInt64 = 0, toSeq: UInt64? = nil, fromTime: Int64? = nil, toTime: Int64? = nil,
        kinds: Set<UInt16>? = nil, key: String? = nil, keys: Set<String>? = nil
    ) {
        self.fromSeq = fromSeq
        self.toSeq = toSeq
        self.fromTime = fromTime
        self.toTime = toTime
        self.kinds = kinds
        self.key = key
        self.keys = keys
    }
}
