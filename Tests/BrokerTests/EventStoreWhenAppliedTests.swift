import Journal
import Synchronization
import Testing
import TestSupport

@testable import Broker

/// `execute(_:whenApplied:)`: what a command's caller queues where its events are applied lands
/// between the observer's pushes of the events before and after them, however commits batch.
struct EventStoreWhenAppliedTests {
    /// What the observer and the bodies saw, in the order they ran on the store.
    private enum Entry: Equatable {
        /// The observer heard of an event; whether it was the first of those it heard of at once.
        case observed(seq: UInt64, first: Bool)
        /// A body ran; the projection's last seq then.
        case body(command: Int, seq: UInt64)
    }

    private final class Recorder: EventObserver {
        let entries = Mutex<[Entry]>([])

        func applied(_ events: [RecordedEvent], projection: Projection) {
            entries.withLock { entries in entries += events.map { .observed(seq: $0.seq, first: $0.seq == events[0].seq) } }
        }

        func record(_ entry: Entry) {
            entries.withLock { $0.append(entry) }
        }
    }

    /// A store on a new journal (in the directory returned, which lives as long as it is kept), heard by a recorder.
    private func observedStore() async throws -> (TemporaryDirectory, Journal, EventStore, Recorder) {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        let store = try EventStore(journal: journal)
        let recorder = Recorder()
        await store.setObserver(recorder)
        return (dir, journal, store, recorder)
    }

    private func tick(_ n: Int) -> Command {
        .ingestTicks([FedTick(code: "600519", name: "M", price: 10 + Double(n % 7), volume: Int64(n), prevClose: 9, timestamp: 1)])
    }

    @Test func eachBodyRunsRightAfterItsCommandsEventsAndBeforeAnyLaterOne() async throws {
        let (dir, journal, store, recorder) = try await observedStore()
        defer { journal.close() }
        let clients = (0..<8).map { "client_0000000\($0)" }
        for id in clients { try await store.execute(.connect(clientID: id, user: nil, remoteAddress: nil, node: "n")) }

        // Ticks and subscribes in flight together, so commits batch and resume out of order (in
        // several waves: how they interleave differs from run to run).
        var seqs: [Int: ClosedRange<UInt64>] = [:]
        for wave in 0..<5 {
            seqs.merge(try await run(wave: wave, on: store, clients: clients, recorder: recorder)) { $1 }
        }
        let firstSeqs = Set(seqs.values.map(\.lowerBound))

        let entries = recorder.entries.withLock { $0 }
        var observedSoFar: UInt64 = 0
        var bodies = 0
        for entry in entries {
            switch entry {
            case .observed(let seq, let first):
                #expect(seq == observedSoFar + 1, "the observer hears every event once, in seq order")
                // So a tick's recipients are the subscribers as of the tick, not as of a subscribe after it.
                if firstSeqs.contains(seq) { #expect(first, "seq \(seq) is heard of apart from the events before it") }
                observedSoFar = seq
            case .body(let command, let seq):
                bodies += 1
                #expect(seq == seqs[command]?.upperBound, "command \(command)'s body saw the state its own last event left")
                #expect(observedSoFar == seq, "command \(command)'s body ran after seq \(seq) was pushed and before any later event")
            }
        }
        #expect(bodies == 5 * 240)
        #expect(observedSoFar == journal.lastSeq)
        _ = dir
    }

    /// Runs 240 commands at once, each with a body that records itself; returns the seqs of each.
    private func run(
        wave: Int, on store: EventStore, clients: [String], recorder: Recorder
    ) async throws -> [Int: ClosedRange<UInt64>] {
        try await withThrowingTaskGroup(of: (Int, ClosedRange<UInt64>).self) { group in
            for n in wave * 240..<(wave + 1) * 240 {
                let command = n % 3 == 0
                    ? Command.subscribe(clientID: clients[n % clients.count], subscription: Subscription(type: .stock, target: "60\(String(format: "%04d", n))"))
                    : tick(n)
                group.addTask {
                    let recorded = try await store.execute(command) { projection in
                        recorder.record(.body(command: n, seq: projection.lastSeq))
                    }
                    return (n, try #require(recorded.first).seq...(try #require(recorded.last).seq))
                }
            }
            return try await group.reduce(into: [Int: ClosedRange<UInt64>]()) { $0[$1.0] = $1.1 }
        }
    }

    @Test func aCommandWithoutEventsRunsItsBodyAtOnceAndARefusedOneNever() async throws {
        let (dir, journal, store, recorder) = try await observedStore()
        defer { journal.close() }
        let stock = Subscription(type: .stock, target: "600519")
        try await store.execute(.connect(clientID: "client_00000001", user: nil, remoteAddress: nil, node: "n"))
        try await store.execute(.subscribe(clientID: "client_00000001", subscription: stock)) { projection in
            recorder.record(.body(command: 1, seq: projection.lastSeq))
        }
        // Already subscribed: no event, and the body still runs, with the state as it is.
        let again = try await store.execute(.subscribe(clientID: "client_00000001", subscription: stock)) { projection in
            recorder.record(.body(command: 2, seq: projection.lastSeq))
        }
        #expect(again.isEmpty)
        await #expect(throws: BrokerError.self) {
            try await store.execute(.subscribe(clientID: "client_unknown", subscription: stock)) { projection in
                recorder.record(.body(command: 3, seq: projection.lastSeq))
            }
        }
        #expect(recorder.entries.withLock { $0 } == [
            .observed(seq: 1, first: true), .observed(seq: 2, first: true), .body(command: 1, seq: 2), .body(command: 2, seq: 2),
        ])
        _ = dir
    }
}
