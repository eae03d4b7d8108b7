import Foundation
import Journal
import Testing

/// The write-ahead log is copied into the file beside the commits (`WALCheckpointer`), and still
/// starts over, so it stays short however long the writer keeps committing.
@Suite struct JournalCheckpointTests {
    /// 1 KiB payloads, so a few thousand events make megabytes of log.
    private static func bulky(_ n: Int) -> NewRecord {
        NewRecord(kind: 1, key: "k\(n % 13)", payload: Array(repeating: UInt8(n % 251), count: 1_024))
    }

    private static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? 0
    }

    private static func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    /// Checkpoints every 10 ms; the writer finishes one once the log holds ~400 KiB.
    private static let options: JournalOptions = {
        var options = JournalOptions()
        options.checkpoints = CheckpointSettings(interval: .milliseconds(10), restartFrames: 100)
        return options
    }()

    @Test func logIsCopiedBesideTheWriterAndStartsOverWhileCommitsContinue() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        // The test writes ~24 MiB, and on until the checkpoint thread has had its turn: on a slow
        // machine (ThreadSanitizer's) its checkpoints may not fit in the first pauses.
        let journal = try Journal.open(path: path, options: Self.options)
        var largestLog = 0
        var batches = 0
        while batches < 240 || (journal.statistics.backgroundCheckpoints == 0 && batches < 2_400) {
            _ = try await journal.append(contentsOf: (0..<100).map { Self.bulky(batches * 100 + $0) })
            largestLog = max(largestLog, Self.fileSize(path + "-wal"))
            // Let the checkpoint thread in now and then, as the gaps between real commits do.
            if batches % 20 == 19 { try await Task.sleep(for: .milliseconds(30)) }
            batches += 1
        }
        let statistics = journal.statistics
        // The file got the data while the journal was open: nothing but a checkpoint writes it.
        let fileWhileOpen = Self.fileSize(path)
        journal.close()

        #expect(statistics.backgroundCheckpoints > 0)
        #expect(statistics.writerCheckpoints > 0)
        #expect(statistics.failedCheckpoints == 0)
        #expect(fileWhileOpen > 8 << 20, "the database file holds \(fileWhileOpen) bytes")
        // Without the log starting over it would have grown to the ~24 MiB written.
        #expect(largestLog < 12 << 20, "the log reached \(largestLog) bytes")
        let records = try readAll(path)
        #expect(records.map(\.seq) == Array(1...UInt64(batches * 100)))
        #expect(records.allSatisfy { $0.payload == Self.bulky(Int($0.seq) - 1).payload })
    }

    @Test func aLogGrownBehindALongReadIsCutBackOnceItStartsOver() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        var options = Self.options
        options.checkpoints.logSizeLimitBytes = 1 << 20
        let journal = try Journal.open(path: path, options: options)
        _ = try await journal.append(contentsOf: (0..<10).map(Self.bulky))
        // A reader part-way through a scan holds its transaction: the log cannot start over.
        var cursor: JournalCursor? = try JournalReader(path: path).records(JournalQuery())
        #expect(try cursor?.next()?.seq == 1)
        for batch in 1..<80 {
            _ = try await journal.append(contentsOf: (0..<100).map { Self.bulky(batch * 100 + $0) })
        }
        let grown = Self.fileSize(path + "-wal")
        #expect(grown > 6 << 20, "the log grew to \(grown) bytes behind the reader")
        cursor = nil
        // Once the reader is gone the log starts over, and is cut back to the limit.
        var cut = false
        for batch in 80..<1_080 where !cut {
            _ = try await journal.append(contentsOf: (0..<10).map { Self.bulky(batch * 10 + $0) })
            try await Task.sleep(for: .milliseconds(10))
            cut = Self.fileSize(path + "-wal") <= 2 << 20
        }
        let last = Self.fileSize(path + "-wal")
        journal.close()
        #expect(cut, "the log stayed at \(last) bytes")
    }

    @Test func closeLeavesNoLogBehindAndAnIdleJournalIsLeftAlone() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path, options: Self.options)
        _ = try await journal.append(contentsOf: (0..<200).map(Self.bulky))
        #expect(try await Self.eventually { journal.statistics.backgroundCheckpoints >= 1 })
        // Everything is copied now; with nothing committed the thread must not run again.
        try await Task.sleep(for: .milliseconds(100))
        let settled = journal.statistics.backgroundCheckpoints
        try await Task.sleep(for: .milliseconds(200))
        #expect(journal.statistics.backgroundCheckpoints == settled)
        journal.close()

        // The writer's connection closed last and took the log with it.
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        let reopened = try Journal.open(path: path, options: Self.options)
        defer { reopened.close() }
        #expect(reopened.lastSeq == 200)
    }
}
