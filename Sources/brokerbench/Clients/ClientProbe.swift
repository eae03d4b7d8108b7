import Synchronization

/// The shared view of one client: its status and tally, written by the client's task and read by
/// the benchmark between and after phases. One lock per client, taken once per received message,
/// so it is practically uncontended.
final class ClientProbe: Sendable {
    private struct State {
        var status = ClientStatus.connecting
        var tally: DeliveryTally
        var errorMessages = 0
        var firstError: String?
    }

    let index: Int
    private let state: Mutex<State>
    private let compressed = Atomic<Int>(0)

    init(index: Int, strategySize: Int) {
        self.index = index
        state = Mutex(State(tally: DeliveryTally(strategySize: strategySize)))
    }

    var status: ClientStatus { state.withLock { $0.status } }

    /// The error messages the broker sent this client, and the first of them.
    var errors: (count: Int, first: String?) { state.withLock { ($0.errorMessages, $0.firstError) } }

    /// Messages that came compressed (permessage-deflate).
    var compressedMessages: Int { compressed.load(ordering: .relaxed) }
    func noteCompressedMessage() { compressed.add(1, ordering: .relaxed) }

    func markConnected() { state.withLock { if $0.status == .connecting { $0.status = .connected } } }
    func markSubscribed() { state.withLock { if $0.status == .connected { $0.status = .subscribed } } }

    func markEnded(reason: String) {
        state.withLock { state in
            if case .ended = state.status { return }
            state.status = .ended(reason: reason)
        }
    }

    func recordError(_ message: String) {
        state.withLock { state in
            state.errorMessages += 1
            if state.firstError == nil { state.firstError = message }
        }
    }

    func record(
        _ entries: [ScannedEntry], sentAt: [UInt64], receivedAt: UInt64, strategy: BenchStrategy,
        latencies: inout [UInt64]
    ) {
        state.withLock {
            $0.tally.record(entries, sentAt: sentAt, receivedAt: receivedAt, strategy: strategy, latencies: &latencies)
        }
    }

    func beginMeasuring(from firstID: UInt64) { state.withLock { $0.tally.beginMeasuring(from: firstID) } }
    func endMeasuring() -> DeliveryTally { state.withLock { $0.tally.endMeasuring() } }
    func hasReceived(finalIDs: [UInt64]) -> Bool { state.withLock { $0.tally.hasReceived(finalIDs: finalIDs) } }
}
