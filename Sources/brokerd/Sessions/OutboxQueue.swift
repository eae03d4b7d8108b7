import Broker
import Collections
import NIOCore

/// One connection's bounded outbound queue: what the fan-out and the session queued and the
/// socket has not taken yet, as WebSocket frames ready for the wire (`WebSocketWire`). A value with no I/O and no lock; `ConnectionWriter` owns it on the
/// connection's event loop.
///
/// While the client keeps up, a price update goes out as the shared buffer that was encoded once
/// for all subscribers of its target. When the queue is longer than `coalesceAfter`, price updates
/// for the same subscription are merged per code (latest wins) and encoded for this client only
/// when the socket takes them. Anything else (replies, errors, news, alerts) is never dropped; if the
/// queue still grows past `capacity`, the client is a slow consumer.
///
/// Merging never moves a later seq ahead of a message that must arrive: once such a message is
/// queued behind a merged update, that update is sealed and later prices start a new one behind it.
/// So a client that has seen seq N has seen every bar, news item and alert up to N, and may resume
/// with `since` = the highest seq it saw.
struct OutboxQueue {
    enum Pushed: Equatable {
        case queued
        case overflow
        case closed
    }

    private enum Item {
        case frame(ByteBuffer)
        /// A merged update: `pending[subscription]` while it is open to more prices, `sealed[batch]` after.
        case prices(Subscription, batch: UInt64)
    }

    private struct PendingPrices {
        var entries: [String: ServerMessage.PriceEntry] = [:]
        var seq: UInt64 = 0
        var batch: UInt64
    }

    private var queue: Deque<Item> = []
    private var pending: [Subscription: PendingPrices] = [:]
    private var sealed: [UInt64: (subscription: Subscription, prices: PendingPrices)] = [:]
    private var nextBatch: UInt64 = 0
    private(set) var isClosed = false
    let capacity: Int
    let coalesceAfter: Int

    init(capacity: Int) {
        self.capacity = max(2, capacity)
        self.coalesceAfter = max(1, capacity / 8)
    }

    var depth: Int { queue.count }
    var isEmpty: Bool { queue.isEmpty }

    /// Queues a message that must arrive (replies, errors, news, alerts).
    mutating func push(_ frame: ByteBuffer) -> Pushed {
        guard !isClosed else { return .closed }
        if !pending.isEmpty {
            for (subscription, prices) in pending { sealed[prices.batch] = (subscription, prices) }
            pending.removeAll(keepingCapacity: true)
        }
        queue.append(.frame(frame))
        return queue.count > capacity ? .overflow : .queued
    }

    /// Queues a price update: the shared buffer while the client keeps up, merged per code when behind.
    mutating func pushPrices(
        _ frame: ByteBuffer, entries: [ServerMessage.PriceEntry], seq: UInt64, for subscription: Subscription
    ) -> Pushed {
        guard !isClosed else { return .closed }
        // `pending.isEmpty` first: the common case (a client that keeps up) skips hashing the subscription.
        if queue.count < coalesceAfter && (pending.isEmpty || pending[subscription] == nil) {
            queue.append(.frame(frame))
            return .queued
        }
        let alreadyQueued = pending[subscription] != nil
        var merged = pending[subscription] ?? PendingPrices(batch: nextBatch)
        for entry in entries { merged.entries[entry.code] = entry }
        merged.seq = seq
        pending[subscription] = merged
        guard !alreadyQueued else { return .queued }
        nextBatch &+= 1
        queue.append(.prices(subscription, batch: merged.batch))
        return queue.count > capacity ? .overflow : .queued
    }

    /// The next message for the socket, nil when nothing is queued; a merged price update is
    /// framed by `framing` (the connection's fan-out's, which compresses where that was negotiated).
    mutating func next(framing: (ByteBuffer) -> ByteBuffer = { WebSocketWire.textFrame($0) }) -> ByteBuffer? {
        while let item = queue.popFirst() {
            switch item {
            case .frame(let frame):
                return frame
            case .prices(let subscription, let batch):
                let merged: PendingPrices
                if let open = pending[subscription], open.batch == batch {
                    merged = open
                    pending[subscription] = nil
                } else if let closed = sealed.removeValue(forKey: batch) {
                    merged = closed.prices
                } else {
                    continue
                }
                guard !merged.entries.isEmpty else { continue }
                let entries = merged.entries.values.sorted { $0.code < $1.code }
                return framing(ServerMessage.encode(ServerMessage.PriceUpdate(entries: entries, seq: merged.seq, subscription: subscription)))
            }
        }
        return nil
    }

    /// Refuses further pushes; drops what is queued when `discardQueued` (a slow consumer would
    /// never take it), else keeps it for the last writes.
    mutating func close(discardQueued: Bool) {
        isClosed = true
        if discardQueued {
            queue.removeAll()
            pending.removeAll()
            sealed.removeAll()
        }
    }
}
