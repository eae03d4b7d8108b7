import ArgumentParser
import Broker
import Foundation
import Journal
import Logging

/// Writes a synthetic journal of `events` events (optionally with snapshots every `interval`).
func writeSyntheticJournal(path: String, events: Int, snapshotInterval: Int?) async throws -> Projection {
    let journal = try Journal.open(path: path)
    defer { journal.close() }
    var market = SyntheticMarket()
    var projection = Projection()
    var written = 0
    var nextSnapshot = snapshotInterval ?? .max
    while written < events {
        let batch = market.next(min(8_192, events - written))
        let positions = try await journal.append(contentsOf: batch.map {
            NewRecord(kind: $0.kind.rawValue, key: $0.key, payload: EventCodec.encode($0))
        })
        if snapshotInterval != nil {
            for (position, event) in zip(positions, batch) {
                projection.apply(RecordedEvent(seq: position.seq, timestamp: position.timestamp, event: event))
            }
        }
        written += batch.count
        if written >= nextSnapshot {
            try await journal.writeSnapshot(seq: projection.lastSeq, format: Int64(Projection.formatVersion), data: projection.serialized())
            nextSnapshot += snapshotInterval ?? 0
        }
    }
    return projection
}

/// Full replay of a journal into the projection, no snapshot.
struct ReplaySpeed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay", abstract: "Full replay (no snapshot) of a synthetic journal into the projection.")

    @Option(help: "Events in the synthetic journal.")
    var events: Int = 2_000_000
    @Option(help: "Runs; the median is reported.")
    var runs: Int = 5
    @OptionGroup var scratch: ScratchOptions

    func run() async throws {
        defer { scratch.removeScratch() }
        let path = try scratch.scratchPath("replay.sqlite")
        _ = try await writeSyntheticJournal(path: path, events: events, snapshotInterval: nil)
        print("journal: \(events) events, \(fileSize(path)) bytes (\(String(format: "%.1f", Double(fileSize(path)) / Double(events))) bytes/event)")
        let loader = ProjectionLoader(logger: Logger(label: "bench"))
        var rates: [Double] = []
        for _ in 0..<runs {
            let start = ContinuousClock.now
            let recovered = try loader.load(from: JournalReader(path: path), useSnapshots: false)
            let elapsed = seconds(since: start)
            precondition(recovered.replayedEvents == UInt64(events))
            rates.append(Double(events) / elapsed)
        }
        print(String(format: "full replay: %.0f events/s (median of %d: %@)", median(rates), runs,
                     rates.map { String(format: "%.0f", $0) }.joined(separator: " ")))
    }
}

/// Time from opening a large journal to a ready projection: newest snapshot + tail replay.
struct ColdStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coldstart", abstract: "Open a large journal with snapshots and time until the projection is ready.")

    @Option(help: "Events in the synthetic journal.")
    var events: Int = 10_000_000
    @Option(help: "Snapshot interval in events (the broker's default is 100000).")
    var snapshotInterval: Int = 100_000
    @Option(help: "Events appended after the last snapshot (the tail to replay).")
    var tail: Int = 99_999
    @Option(help: "Runs; the median is reported.")
    var runs: Int = 5
    @Option(help: "Keep the journal at this path instead of a scratch file (reused when it exists).")
    var journal: String?
    @OptionGroup var scratch: ScratchOptions

    func run() async throws {
        defer { if journal == nil { scratch.removeScratch() } }
        let path = try journal ?? scratch.scratchPath("coldstart.sqlite")
        if !FileManager.default.fileExists(atPath: path) {
            let start = ContinuousClock.now
            _ = try await writeSyntheticJournal(path: path, events: events, snapshotInterval: snapshotInterval)
            // The tail after the last snapshot: what a crash between two snapshots leaves to replay.
            let appender = try Journal.open(path: path)
            var market = SyntheticMarket(seed: 2)
            var remaining = tail
            while remaining > 0 {
                let batch = market.next(min(8_192, remaining))
                _ = try await appender.append(contentsOf: batch.map {
                    NewRecord(kind: $0.kind.rawValue, key: $0.key, payload: EventCodec.encode($0))
                })
                remaining -= batch.count
            }
            appender.close()
            print(String(format: "wrote %d events in %.1f s", events + tail, seconds(since: start)))
        }
        print("journal: \(fileSize(path)) bytes")
        var times: [Double] = []
        var report = ""
        for _ in 0..<runs {
            let start = ContinuousClock.now
            let journal = try Journal.open(path: path)
            let store = try EventStore(journal: journal, logger: Logger(label: "bench"))
            let elapsed = seconds(since: start)
            let lastSeq = await store.projection.lastSeq
            report = "snapshot at seq \(store.recovery.snapshotSeq ?? 0), replayed \(store.recovery.replayedEvents) events, ready at seq \(lastSeq)"
            journal.close()
            times.append(elapsed)
        }
        print(report)
        print(String(format: "cold start: %.3f s to ready (median of %d: %@)", median(times), runs,
                     times.map { String(format: "%.3f", $0) }.joined(separator: " ")))
    }
}
