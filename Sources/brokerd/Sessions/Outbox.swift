import Broker
import Collections
import NIOCore
import Synchronization

/// One connection's bounded outbound queue, filled by the fan-out and drained by the connection's
/// writer task, so a slow socket never blocks the fan-out or other clients.
///
/// While the client keeps up, a price update goes out as the shared buffer that was encoded once
/// for all subscribers of its target. When the queue is longer than `coalesceAfter`, price updates
/// for the same subscription are merged per code (latest wins) and encoded for this client only
/// when the writer gets to them. Anything else (replies, errors) is never dropped; if the queue
/// still grows past `capacity`, the client is a slow consumer and is disconnected.
///
/// The lock guards O(1) queue operations only; nothing waits while holding it.
final class Outbox: Sendable {
    enum Item: Sendable {
        case frame(ByteBuffer)
        case prices(Subscription)
    }

    enum Pushed: Equatable {
        case queued
        case overflow
        case closed
    }

    private struct PendingPrices {
        var entries: [String: ServerMessage.PriceEntry] = [:]
        var seq: UInt64 = 0
    }

    private struct State {
        var queue: Deque<Item> = []
        var pending: [Subscription: PendingPrices] = [:]
        var waiter: CheckedContinuation<Item?, Never>?
        var closed = false
        var sent: UInt64 = 0
    }

    private let state = Mutex(State())
    let capacity: Int
    let coalesceAfter: Int

    init(capacity: Int) {
        self.capacity = max(2, capacity)
        self.coalesceAfter = max(1, capacity / 8)
    }

    var depth: Int { state.withLock { $0.queue.count } }
    var sentCount: UInt64 { state.withLock { $0.sent } }

    /// Queues a message that must arrive (replies, errors, news, alerts).
    @discardableResult
    func push(_ frame: ByteBuffer) -> Pushed {
        enqueue { state in
            state.queue.append(.frame(frame))
            return true
        }
    }

    /// Queues a price update: the shared buffer while the client keeps up, merged per code when behind.
    @discardableResult
    func pushPrices(_ frame: ByteBuffer, entries: [ServerMessage.PriceEntry], seq: UInt64, for subscription: Subscription) -> Pushed {
        enqueue { state in
            if state.queue.count < coalesceAfter && state.pending[subscription] == nil {
                state.queue.append(.frame(frame))
                return true
            }
            let alreadyQueued = state.pending[subscription] != nil
            var pending = state.pending[subscription] ?? PendingPrices()
            for entry in entries { pending.entries[entry.code] = entry }
            pending.seq = seq
            state.pending[subscription] = pending
            if !alreadyQueued { state.queue.append(.prices(subscription)) }
            return !alreadyQueued
        }
    }

    /// The next message to write, waiting for one; nil once closed.
    func next() async -> ByteBuffer? {
        while true {
            let item: Item? = await withCheckedContinuation { continuation in
                state.withLock { state in
                    if let item = state.queue.popFirst() {
                        continuation.resume(returning: item)
                    } else if state.closed {
                        continuation.resume(returning: nil)
                    } else {
                        state.waiter = continuation
                    }
                }
            }
            guard let item else { return nil }
            switch item {
            case .frame(let frame):
                state.withLock { $0.sent += 1 }
                return frame
            case .prices(let subscription):
                let pending = state.withLock { state in
                    state.sent += 1
                    return state.pending.removeValue(forKey: subscription)
                }
                guard let pending, !pending.entries.isEmpty else { continue }
                let entries = pending.entries.values.sorted { $0.code < $1.code }
                return ServerMessage.encode(ServerMessage.PriceUpdate(entries: entries, seq: pending.seq, subscription: subscription))
            }
        }
    }

    /// Refuses further pushes and ends the writer: after the queued messages, or at once when
    /// `discardQueued` (a slow consumer would never drain them).
    func close(discardQueued: Bool = false) {
        let waiter = state.withLock { state -> CheckedContinuation<Item?, Never>? in
            state.closed = true
            if discardQueued {
                state.queue.removeAll()
                state.pending.removeAll()
            }
            defer { state.waiter = nil }
            return state.queue.isEmpty ? state.waiter : nil
        }
        waiter?.resume(returning: nil)
    }

    private func enqueue(_ add: (inout State) -> Bool) -> Pushed {
        let (result, handoff) = state.withLock { state -> (Pushed, (CheckedContinuation<Item?, Never>, Item)?) in
            guard !state.closed else { return (.closed, nil) }
            guard add(&state) else { return (.queued, nil) }
            // A waiting writer means the queue was empty: hand it the item directly.
            if let waiter = state.waiter, let first = state.queue.popFirst() {
                state.waiter = nil
                return (.queued, (waiter, first))
            }
            return (state.queue.count > capacity ? .overflow : .queued, nil)
        }
        if let (waiter, item) = handoff { waiter.resume(returning: item) }
        return result
    }
}
