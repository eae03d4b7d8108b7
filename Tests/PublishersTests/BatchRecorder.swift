import Broker
import Publishers
import Synchronization

/// Collects what a source delivers; optionally refuses chosen tick batches as invalid, like the
/// broker's decider would (with a `BrokerError`).
final class BatchRecorder: Sendable {

    private let batches = Mutex<[TickBatch]>([])
    private let updates = Mutex<[SharedUpdate]>([])
    private let refuse: @Sendable (TickBatch) -> Bool

    init(refusing refuse: @escaping @Sendable (TickBatch) -> Bool = { _ in false }) {
        self.refuse = refuse
    }

    /// The callback to hand to the source.
    var deliver: RedisTickSource.Deliver {
        { [self] batch in
            if refuse(batch) { throw BrokerError.invalidTick(index: 0, code: batch.ticks.first?.code ?? "", reason: "refused by the test") }
            batches.withLock { $0.append(batch) }
        }
    }

    /// The callback for news and alert rules shared by other nodes.
    var deliverShared: RedisTickSource.DeliverShared {
        { [self] update in updates.withLock { $0.append(update) } }
    }

    var received: [TickBatch] { batches.withLock { $0 } }
    var shared: [SharedUpdate] { updates.withLock { $0 } }
    var ticks: [FedTick] { received.flatMap(\.ticks) }
}
