import Broker
import Publishers
import Synchronization

/// Collects what a source delivers; optionally refuses chosen tick batches as invalid, like the
/// broker's decider would (with a `BrokerError`).
final class BatchRecorder: Sendable {

    /// One entry of the shared log as delivered.
    struct Logged: Sendable, Equatable {
        var update: SharedUpdate?
        var own: Bool
        var position: String
    }

    private let batches = Mutex<[TickBatch]>([])
    private let updates = Mutex<[SharedUpdate]>([])
    private let logEntries = Mutex<[Logged]>([])
    private let refuse: @Sendable (TickBatch) -> Bool
    private let refuseLogged: @Sendable (SharedUpdate) -> Bool
    /// While closed, shared-log deliveries wait (polling) before they are taken.
    private let logGateOpen = Atomic<Bool>(true)

    /// While closed, shared updates (pub/sub) wait (polling) before they are taken.
    private let sharedGateOpen = Atomic<Bool>(true)
    /// Shared updates waiting at the closed gate.
    private let sharedWaiting = Atomic<Int>(0)

    /// Makes deliveries of shared updates wait until `openSharedGate()`, as a slow hand-over would.
    func closeSharedGate() { sharedGateOpen.store(false, ordering: .releasing) }
    func openSharedGate() { sharedGateOpen.store(true, ordering: .releasing) }
    /// How many shared updates wait at the closed gate now.
    var sharedWaitingAtGate: Int { sharedWaiting.load(ordering: .acquiring) }

    /// Makes shared-log deliveries wait until `openLogGate()`.
    func closeLogGate() { logGateOpen.store(false, ordering: .releasing) }
    func openLogGate() { logGateOpen.store(true, ordering: .releasing) }

    init(
        refusing refuse: @escaping @Sendable (TickBatch) -> Bool = { _ in false },
        refusingLogged refuseLogged: @escaping @Sendable (SharedUpdate) -> Bool = { _ in false }
    ) {
        self.refuse = refuse
        self.refuseLogged = refuseLogged
    }

    /// The callback for entries of the shared log; an update it refuses is not recorded.
    var deliverLogged: RedisTickSource.DeliverLogged {
        { [self] update, own, position in
            while !logGateOpen.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(5)) }
            if let update, refuseLogged(update) { throw BrokerError.invalidRequest(field: "update", reason: "refused by the test") }
            logEntries.withLock { $0.append(Logged(update: update, own: own, position: position)) }
        }
    }

    var logged: [Logged] { logEntries.withLock { $0 } }

    /// The callback to hand to the source.
    var deliver: RedisTickSource.Deliver {
        { [self] batch in
            if refuse(batch) { throw BrokerError.invalidTick(index: 0, code: batch.ticks.first?.code ?? "", reason: "refused by the test") }
            batches.withLock { $0.append(batch) }
        }
    }

    /// The callback for news and alert rules shared by other nodes.
    var deliverShared: RedisTickSource.DeliverShared {
        { [self] update in
            if !sharedGateOpen.load(ordering: .acquiring) {
                sharedWaiting.add(1, ordering: .releasing)
                defer { sharedWaiting.subtract(1, ordering: .releasing) }
                while !sharedGateOpen.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(5)) }
            }
            updates.withLock { $0.append(update) }
        }
    }

    var received: [TickBatch] { batches.withLock { $0 } }
    var shared: [SharedUpdate] { updates.withLock { $0 } }
    var ticks: [FedTick] { received.flatMap(\.ticks) }
}
