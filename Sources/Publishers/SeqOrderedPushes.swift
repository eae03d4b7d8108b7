import Broker
import Synchronization

/// The pushes every publisher made of one applied batch, held until all of them ran and then sent
/// on in seq order: each publisher sends in seq order, but one after another they would not be.
///
/// A batch holds ticks and what they decided (an alert fired at seq 7 between ticks at 6 and 8);
/// the price round of the batch carries its last tick's seq (8) and would reach a client before
/// the alert (7) that the next publisher sends. A client resuming from the highest seq it saw
/// would then never get the alert. Sorted by seq (ties keep the publishers' order), every
/// connection receives a batch's pushes with non-decreasing seqs.
final class SeqOrderedPushes: PushSink {
    private enum Recipients {
        case subscription(Subscription, Projection)
        case anyOf([Subscription], Projection)
        case user(String)
    }

    private struct Held {
        let push: Push
        let seq: UInt64
        let recipients: Recipients
    }

    private let held = Mutex<[Held]>([])

    /// Held, so no connection has it yet: 0.
    func send(_ push: Push, seq: UInt64, to subscription: Subscription, projection: Projection) -> Int {
        held.withLock { $0.append(Held(push: push, seq: seq, recipients: .subscription(subscription, projection))) }
        return 0
    }

    /// Held, so no connection has it yet: 0.
    func send(_ push: Push, seq: UInt64, toAnyOf subscriptions: [Subscription], projection: Projection) -> Int {
        held.withLock { $0.append(Held(push: push, seq: seq, recipients: .anyOf(subscriptions, projection))) }
        return 0
    }

    /// Held, so no connection has it yet: 0.
    func send(_ push: Push, seq: UInt64, toUser user: String) -> Int {
        held.withLock { $0.append(Held(push: push, seq: seq, recipients: .user(user))) }
        return 0
    }

    /// Sends what was held to `sink`, lowest seq first, and forgets it.
    func flush(to sink: any PushSink) {
        var pushes = held.withLock { held in
            defer { held.removeAll() }
            return held
        }
        // Usually in order already (one publisher had something to send).
        if !zip(pushes, pushes.dropFirst()).allSatisfy({ $0.seq <= $1.seq }) {
            pushes = pushes.enumerated().sorted { ($0.element.seq, $0.offset) < ($1.element.seq, $1.offset) }.map(\.element)
        }
        for held in pushes {
            switch held.recipients {
            case .subscription(let subscription, let projection):
                sink.send(held.push, seq: held.seq, to: subscription, projection: projection)
            case .anyOf(let subscriptions, let projection):
                sink.send(held.push, seq: held.seq, toAnyOf: subscriptions, projection: projection)
            case .user(let user):
                sink.send(held.push, seq: held.seq, toUser: user)
            }
        }
    }
}
