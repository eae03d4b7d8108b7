import Broker
import Publishers
import Synchronization

/// Collects what a source delivers; optionally refuses chosen batches like a broker would.
final class BatchRecorder: Sendable {
    struct Refusal: Error {}

    private let batches = Mutex<[TickBatch]>([])
    private let refuse: @Sendable (TickBatch) -> Bool

    init(refusing refuse: @escaping @Sendable (TickBatch) -> Bool = { _ in false }) {
        self.refuse = refuse
    }

    /// The callback to hand to the source.
    var deliver: RedisTickSource.Deliver {
        { [self] batch in
            if refuse(batch) { throw Refusal() }
            batches.withLock { $0.append(batch) }
        }
    }

    var received: [TickBatch] { batches.withLock { $0 } }
    var ticks: [PriceTick] { received.flatMap(\.ticks) }
}
