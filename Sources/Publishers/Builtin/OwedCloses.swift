import Broker

/// Closed bars waiting for the journal, oldest first, at most `capacity` of them (or
/// `minimumCapacity`, when larger).
///
/// A close leaves the queue for good only once it is journaled: the batch whose append failed is
/// put back in front, to be tried again. Past the capacity the oldest closes go first, because
/// the newest are what charts and resuming clients need most; what went is counted.
struct OwedCloses: Sendable {
    /// Most closes held, unless `minimumCapacity` is larger.
    let capacity: Int
    /// Closes held whatever `capacity` says. The k-line publisher sets it to two closes of every
    /// bar it tracks: a period boundary closes all of them at once, and those closes (and the last
    /// boundary's, still being journaled) must fit while the journal keeps up.
    var minimumCapacity = 0
    private(set) var bars: [KlineBar] = []
    /// Closes dropped because the queue was full, since it was made.
    private(set) var dropped = 0
    /// How many closes of each bar the queue holds, so a close journaled from elsewhere is looked
    /// up without a scan of the queue.
    private var held: [BarID: Int] = [:]

    /// One bar: its code, period and start.
    private struct BarID: Hashable {
        var key: BarKey
        var start: Int64

        init(_ bar: KlineBar) {
            key = BarKey(code: bar.code, period: bar.period)
            start = bar.start
        }
    }

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var count: Int { bars.count }

    /// Queues `closed` behind the others; returns how many of the oldest had to go to make room.
    @discardableResult
    mutating func append(_ closed: [KlineBar]) -> Int {
        bars += closed
        hold(closed)
        return trim()
    }

    /// Takes out up to `limit` of the oldest closes, to journal them.
    mutating func take(upTo limit: Int) -> [KlineBar] {
        let batch = Array(bars.prefix(limit))
        bars.removeFirst(batch.count)
        release(batch)
        return batch
    }

    /// Puts closes whose append failed back in front of the others; returns how many of the
    /// oldest had to go to make room.
    @discardableResult
    mutating func putBack(_ batch: some Collection<KlineBar>) -> Int {
        bars.insert(contentsOf: batch, at: 0)
        hold(batch)
        return trim()
    }

    /// Drops the closes of the bar `journaled` closes: the journal has a close of it already
    /// (fed from outside), and a second one would replace it.
    mutating func remove(closesOf journaled: KlineBar) {
        let id = BarID(journaled)
        guard held[id] != nil else { return }
        let removed = bars.filter { BarID($0) == id }
        bars.removeAll { BarID($0) == id }
        release(removed)
    }

    private mutating func trim() -> Int {
        let excess = bars.count - max(capacity, minimumCapacity)
        guard excess > 0 else { return 0 }
        release(bars.prefix(excess))
        bars.removeFirst(excess)
        dropped += excess
        return excess
    }

    private mutating func hold(_ closed: some Sequence<KlineBar>) {
        for bar in closed { held[BarID(bar), default: 0] += 1 }
    }

    private mutating func release(_ closed: some Sequence<KlineBar>) {
        for bar in closed {
            let id = BarID(bar)
            if let count = held[id], count > 1 { held[id] = count - 1 } else { held[id] = nil }
        }
    }
}
