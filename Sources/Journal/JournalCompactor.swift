import Foundation

/// What a compaction did.
public struct CompactionReport: Sendable, Hashable {
    /// The archive the rows went to.
    public var archivePath: String
    /// Rows this run copied into the archive (fewer when an interrupted run had copied some).
    public var copiedRows: UInt64
    /// Rows this run deleted from the live journal.
    public var removedRows: UInt64
    /// The live journal's chain base now: the last archived row.
    public var base: ChainBase
    /// The snapshot start-up will recover from (the newest usable one).
    public var snapshotSeq: UInt64
    /// True when the archive already held rows of an interrupted run, which this run finished.
    public var finishedInterruptedRun: Bool
    /// True when the journal was already compacted up to the requested seq: nothing was changed.
    public var alreadyDone: Bool
}

/// Moves the oldest rows of a live journal into an archive file without breaking the hash chain.
///
/// The archive has the journal's schema and the archived rows with their original hashes; the live
/// file records the last archived row as its chain base, so it verifies on its own, and archive +
/// live verify as one chain. Order of writes: every row is copied into the archive, committed and
/// made durable first; then the rows are deleted from the live file in short transactions of
/// `rowsPerDeleteTransaction` rows, each of which moves the chain base past the rows it deleted.
/// At every point in between, the archive ends exactly at or after the live base and the rows in
/// both files are equal, so a crash leaves both files consistent; running the same compaction again
/// notices the rows in both files and only does the rest of the delete.
///
/// Safe while a broker appends to the journal: SQLite serializes each delete transaction with the
/// broker's commits, so an append waits for one transaction at most, not for the whole range.
public struct JournalCompactor {
    /// The live journal.
    public let journalPath: String
    /// The archive to append to (created when missing).
    public let archivePath: String
    /// Says why a snapshot could not be used to recover (nil when it can). The journal knows only
    /// checksums; the layer that wrote the snapshot can check that it decodes.
    public var snapshotProblem: (SnapshotInfo, [UInt8]) -> String?

    /// How long to wait for a broker's commit to finish before giving up on a write lock.
    public var busyTimeoutMilliseconds: Int32 = 30_000

    /// Rows deleted from the live journal per transaction, which bounds how long a broker's append
    /// waits for compaction (the broker gives up after 5 s).
    public var rowsPerDeleteTransaction: UInt64 = 10_000

    /// How long the journal's write lock is left free between two delete transactions. SQLite keeps
    /// no queue for the lock: an append that found it taken tries again after up to 100 ms (SQLite's
    /// busy handler), so with a shorter gap the next delete would take the lock first every time and
    /// the append would wait for the whole range after all.
    public var pauseBetweenDeleteTransactions: Duration = .milliseconds(150)

    /// A compactor of `journalPath` into `archivePath`; `snapshotProblem` vets the snapshot recovery will need.
    public init(
        journalPath: String, archivePath: String, snapshotProblem: @escaping (SnapshotInfo, [UInt8]) -> String? = { _, _ in nil }
    ) {
        self.journalPath = journalPath
        self.archivePath = archivePath
        self.snapshotProblem = snapshotProblem
    }

    /// Archives every row with seq < `beforeSeq`.
    public func compact(beforeSeq: UInt64) throws(CompactionError) -> CompactionReport {
        do {
            return try run(beforeSeq: beforeSeq)
        } catch let error as CompactionError {
            throw error
        } catch JournalError.writeFailed(let error), JournalError.diskFull(let error) {
            throw .failed(error)
        } catch let error as JournalError {
            throw .journal(error)
        } catch let error as SQLiteError {
            throw .failed(error)
        } catch {
            throw .failed(SQLiteError(code: -1, message: "\(error)"))
        }
    }

    private func run(beforeSeq: UInt64) throws -> CompactionReport {
        if Self.isSameFile(journalPath, archivePath) { throw CompactionError.sameFile(path: archivePath) }
        let live = try openLive()
        let state = try live.readConsistently { try LiveState.read(live) }

        // Nothing below `beforeSeq` left in the live file: done already, if the archive agrees.
        if let first = state.first, beforeSeq <= first.seq, beforeSeq > 0, beforeSeq - 1 == state.base.seq {
            if let archive = try openExistingArchive(), let tail = try ArchiveTail.read(archive, path: archivePath),
               tail.seq == state.base.seq, tail.hash == state.base.hash {
                return CompactionReport(
                    archivePath: archivePath, copiedRows: 0, removedRows: 0, base: state.base,
                    snapshotSeq: try usableSnapshot(live, state: state, atLeast: state.base.seq), finishedInterruptedRun: false,
                    alreadyDone: true)
            }
        }
        guard let first = state.first, let last = state.last, beforeSeq > first.seq, beforeSeq <= last.seq else {
            throw CompactionError.beforeSeqOutOfRange(requested: beforeSeq, firstSeq: state.first?.seq, lastSeq: state.last?.seq)
        }
        let newBaseSeq = beforeSeq - 1
        let snapshotSeq = try usableSnapshot(live, state: state, atLeast: newBaseSeq)
        let verification = try ChainVerifier(db: live, path: journalPath).run()
        guard verification.isValid else { throw CompactionError.liveChainBroken(verification) }

        // The archive: continue it, or finish what an interrupted run copied, or start it.
        let archive: SQLiteConnection
        var copyAfter = state.base.seq
        var interrupted = false
        var isNew = false
        if let existing = try openExistingArchive() {
            archive = existing
            let hasRows = try existing.scalarInt("SELECT 1 FROM events LIMIT 1") != nil
            if hasRows { try checkArchiveRole(existing) }
            if let tail = try ArchiveTail.read(existing, path: archivePath) {
                if tail.seq < state.base.seq {
                    throw CompactionError.archiveDoesNotContinue(
                        path: archivePath, reason: "it ends at seq \(tail.seq) but the journal continues after seq \(state.base.seq); "
                            + "seqs \(tail.seq + 1)...\(state.base.seq) are in another archive")
                }
                if tail.seq == state.base.seq {
                    guard tail.hash == state.base.hash else {
                        throw CompactionError.archiveDoesNotContinue(
                            path: archivePath, reason: "its last row (seq \(tail.seq)) is not the row the journal's first row chains to")
                    }
                } else {
                    guard tail.seq <= newBaseSeq else {
                        throw CompactionError.archiveDoesNotContinue(
                            path: archivePath, reason: "it already holds seqs up to \(tail.seq) from an interrupted compaction; "
                                + "run it again with --before-seq \(tail.seq + 1)")
                    }
                    try checkOverlap(archive: existing, live: live, after: state.base.seq, through: tail.seq)
                    copyAfter = tail.seq
                    interrupted = true
                }
            } else {
                isNew = try JournalSchema.role(existing) == nil
                if !isNew {
                    let base = try ChainBase.read(existing)
                    guard base.seq == state.base.seq, base.hash == state.base.hash else {
                        throw CompactionError.archiveDoesNotContinue(
                            path: archivePath, reason: "it is empty but chains from seq \(base.seq), the journal from seq \(state.base.seq)")
                    }
                }
            }
        } else {
            archive = try openArchive(create: true)
            isNew = true
        }

        let copied = try copy(from: live, to: archive, after: copyAfter, through: newBaseSeq, initialize: isNew ? state.base : nil)
        try Self.syncDirectory(of: archivePath)
        let (removed, newBase) = try removeArchived(from: live, expectedBase: state.base, newBaseSeq: newBaseSeq)
        return CompactionReport(
            archivePath: archivePath, copiedRows: copied, removedRows: removed, base: newBase, snapshotSeq: snapshotSeq,
            finishedInterruptedRun: interrupted, alreadyDone: false)
    }

    // MARK: Live file

    private func openLive() throws -> SQLiteConnection {
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: journalPath, readOnly: false, create: false, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        } catch {
            throw JournalError.cannotOpen(path: journalPath, error)
        }
        try JournalSchema.prepare(db, path: journalPath, readOnly: true)
        if try JournalSchema.role(db) == JournalSchema.archiveRole {
            throw JournalError.notAJournal(path: journalPath, reason: "it is an archive; compact the live journal")
        }
        try db.execute("PRAGMA synchronous = FULL")
        return db
    }

    /// The seq of the newest snapshot at or after `seq` that recovery can use.
    private func usableSnapshot(_ live: SQLiteConnection, state: LiveState, atLeast seq: UInt64) throws -> UInt64 {
        var skipped: [String] = []
        for snapshot in state.snapshots where snapshot.seq >= seq {
            do {
                let data = try SnapshotStore.read(live, seq: snapshot.seq)
                if let problem = snapshotProblem(snapshot, data) {
                    skipped.append("snapshot \(snapshot.seq): \(problem)")
                    continue
                }
                return snapshot.seq
            } catch JournalError.corruptSnapshot {
                skipped.append("snapshot \(snapshot.seq): checksum mismatch")
            }
        }
        throw CompactionError.noUsableSnapshot(neededSeq: seq, skipped: skipped)
    }

    /// Deletes the archived rows (and the snapshots that would need them), `rowsPerDeleteTransaction`
    /// at a time, and returns how many were deleted and the new base.
    private func removeArchived(
        from live: SQLiteConnection, expectedBase: ChainBase, newBaseSeq: UInt64
    ) throws -> (UInt64, ChainBase) {
        var base = expectedBase
        var removed: UInt64 = 0
        while base.seq < newBaseSeq {
            if base != expectedBase {
                let pause = pauseBetweenDeleteTransactions.components
                Thread.sleep(forTimeInterval: Double(pause.seconds) + Double(pause.attoseconds) / 1e18)
            }
            let through = base.seq + min(max(1, rowsPerDeleteTransaction), newBaseSeq - base.seq)
            let (count, next) = try removeArchived(from: live, expectedBase: base, through: through)
            removed += count
            base = next
        }
        return (removed, base)
    }

    /// One delete transaction: the rows after `expectedBase` through seq `through` go, and the row
    /// at `through` becomes the base. The file is consistent after it: its chain starts at the base,
    /// and the archive holds every row up to (at least) the base.
    private func removeArchived(
        from live: SQLiteConnection, expectedBase: ChainBase, through: UInt64
    ) throws -> (UInt64, ChainBase) {
        try live.execute("BEGIN IMMEDIATE")
        do {
            guard try ChainBase.read(live) == expectedBase else {
                throw CompactionError.archiveDoesNotContinue(
                    path: archivePath, reason: "the journal was compacted by someone else meanwhile; run again")
            }
            let row = try live.prepare("SELECT ts, hash FROM events WHERE seq = ?1", persistent: false)
            try row.bind(1, Int64(through))
            guard try row.step() else { throw JournalError.readFailed(SQLiteError(code: -1, message: "seq \(through) vanished")) }
            let base = ChainBase(seq: through, hash: row.bytes(1), timestamp: row.int64(0))
            row.reset()
            let delete = try live.prepare("DELETE FROM events WHERE seq <= ?1", persistent: false)
            try delete.bind(1, Int64(through))
            try delete.run()
            let removed = UInt64(try live.scalarInt("SELECT changes()") ?? 0)
            let stale = try live.prepare("DELETE FROM snapshots WHERE seq < ?1", persistent: false)
            try stale.bind(1, Int64(through))
            try stale.run()
            try base.write(live)
            try live.execute("COMMIT")
            return (removed, base)
        } catch {
            try? live.execute("ROLLBACK")
            throw error
        }
    }

    // MARK: Archive file

    private func openExistingArchive() throws -> SQLiteConnection? {
        guard FileManager.default.fileExists(atPath: archivePath) else { return nil }
        return try openArchive(create: false)
    }

    private func openArchive(create: Bool) throws -> SQLiteConnection {
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: archivePath, readOnly: false, create: create, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        } catch {
            throw JournalError.cannotOpen(path: archivePath, error)
        }
        // Creates the tables in a new (empty) file; checks an existing one is a journal file.
        try JournalSchema.prepare(db, path: archivePath, readOnly: false)
        try db.execute("PRAGMA synchronous = FULL")
        return db
    }

    private func checkArchiveRole(_ archive: SQLiteConnection) throws {
        guard try JournalSchema.role(archive) == JournalSchema.archiveRole else {
            throw CompactionError.archiveDoesNotContinue(
                path: archivePath, reason: "it is a live journal, not an archive written by `brokerd journal compact`")
        }
    }

    /// Rows an interrupted run copied must be exactly the live rows, or deleting them would lose data.
    private func checkOverlap(archive: SQLiteConnection, live: SQLiteConnection, after: UInt64, through: UInt64) throws {
        let sql = "SELECT seq, ts, kind, key, payload, hash FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq"
        let archived = try archive.prepare(sql, persistent: false)
        let current = try live.prepare(sql, persistent: false)
        for statement in [archived, current] {
            try statement.bind(1, Int64(after))
            try statement.bind(2, Int64(through))
        }
        let archivedRows = JournalCursor(statement: archived, toTime: nil)
        let currentRows = JournalCursor(statement: current, toTime: nil)
        var expected = after + 1
        while true {
            let a = try archivedRows.next()
            let b = try currentRows.next()
            guard a == b else {
                throw CompactionError.archiveDoesNotContinue(
                    path: archivePath, reason: "its seq \(a?.seq ?? expected) differs from the journal's; verify both files")
            }
            guard a != nil else { break }
            expected += 1
        }
        guard expected == through + 1 else {
            throw CompactionError.archiveDoesNotContinue(path: archivePath, reason: "seqs \(expected)...\(through) are missing from it")
        }
    }

    /// Copies rows (after, through] into the archive in one synced transaction and moves its head.
    private func copy(
        from live: SQLiteConnection, to archive: SQLiteConnection, after: UInt64, through: UInt64, initialize base: ChainBase?
    ) throws -> UInt64 {
        if base != nil {
            // One self-contained file, no -wal beside it: what an archive should be.
            try archive.execute("PRAGMA journal_mode = DELETE")
        }
        try archive.execute("BEGIN IMMEDIATE")
        do {
            if let base {
                let role = try archive.prepare(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    persistent: false)
                try role.bind(1, JournalSchema.MetaKey.role)
                try role.bind(2, JournalSchema.archiveRole)
                try role.run()
                if base.isCompacted { try base.write(archive) }
            }
            let rows = try live.prepare(
                "SELECT seq, ts, kind, key, payload, hash FROM events WHERE seq > ?1 AND seq <= ?2 ORDER BY seq", persistent: false)
            try rows.bind(1, Int64(after))
            try rows.bind(2, Int64(through))
            let cursor = JournalCursor(statement: rows, toTime: nil)
            let insert = try archive.prepare("INSERT INTO events(seq, ts, kind, key, payload, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
            var copied: UInt64 = 0
            var lastHash: [UInt8]?
            while let row = try cursor.next() {
                try insert.bind(1, Int64(row.seq))
                try insert.bind(2, row.timestamp)
                try insert.bind(3, Int64(row.kind))
                try insert.bind(4, row.key)
                try insert.bind(5, bytes: row.payload)
                try insert.bind(6, bytes: row.hash)
                try insert.run()
                copied += 1
                lastHash = row.hash
            }
            guard copied == through - after else {
                throw JournalError.readFailed(SQLiteError(code: -1, message: "expected \(through - after) rows after seq \(after), read \(copied)"))
            }
            if let lastHash {
                let head = try archive.prepare(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2), (?3, ?4) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    persistent: false)
                try head.bind(1, JournalSchema.MetaKey.headSeq)
                try head.bind(2, Int64(through))
                try head.bind(3, JournalSchema.MetaKey.headHash)
                try head.bind(4, bytes: lastHash)
                try head.run()
            }
            try archive.execute("COMMIT")
            return copied
        } catch {
            try? archive.execute("ROLLBACK")
            throw error
        }
    }

    // MARK: Files

    private static func isSameFile(_ a: String, _ b: String) -> Bool {
        var first = stat()
        var second = stat()
        guard stat(a, &first) == 0, stat(b, &second) == 0 else { return false }
        return first.st_dev == second.st_dev && first.st_ino == second.st_ino
    }

    /// Makes the archive's last commit durable before any live row is deleted. The archive uses a
    /// rollback journal (DELETE mode), where COMMIT is the unlink of `<archive>-journal`: until the
    /// directory is synced, a power loss can bring that journal back, and SQLite would then roll the
    /// copy back although the live rows are gone. SQLite syncs the directory after the unlink only
    /// under `synchronous = EXTRA`, and skips it without an error when it cannot open the directory,
    /// so this does it itself, after every copy (new archive or not), and fails when it cannot.
    /// It also makes a new archive's own directory entry durable.
    private static func syncDirectory(of path: String) throws(SQLiteError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let fd = open(directory, O_RDONLY)
        guard fd >= 0 else {
            throw SQLiteError(code: -1, message: "cannot open \(directory) to sync the archive's commit: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        guard fsync(fd) == 0 else {
            throw SQLiteError(code: -1, message: "cannot sync \(directory) after the archive's commit: \(String(cString: strerror(errno)))")
        }
    }
}

/// The live file's chain state, read once before compacting.
private struct LiveState {
    var base: ChainBase
    var first: JournalPosition?
    var last: JournalPosition?
    var snapshots: [SnapshotInfo]

    static func read(_ db: SQLiteConnection) throws -> LiveState {
        LiveState(
            base: try ChainBase.read(db),
            first: try JournalPosition.read(db, "SELECT seq, ts FROM events ORDER BY seq LIMIT 1"),
            last: try JournalPosition.read(db, "SELECT seq, ts FROM events ORDER BY seq DESC LIMIT 1"),
            snapshots: try SnapshotStore.list(db))
    }
}

/// The last row of an archive, checked against the head its last commit recorded.
private struct ArchiveTail {
    var seq: UInt64
    var hash: [UInt8]

    /// nil when the archive has no rows.
    static func read(_ db: SQLiteConnection, path: String) throws -> ArchiveTail? {
        let last = try db.prepare("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1", persistent: false)
        guard try last.step() else { return nil }
        let tail = ArchiveTail(seq: try last.seq(0) { "a row with seq \($0)" }, hash: last.bytes(1))
        let head = try db.prepare("SELECT key, value FROM meta WHERE key IN (?1, ?2)", persistent: false)
        try head.bind(1, JournalSchema.MetaKey.headSeq)
        try head.bind(2, JournalSchema.MetaKey.headHash)
        var headSeq: UInt64?
        var headHash: [UInt8]?
        while try head.step() {
            if head.string(0) == JournalSchema.MetaKey.headSeq {
                headSeq = try head.seq(1) { "head_seq \($0) in its meta table" }
            } else {
                headHash = head.bytes(1)
            }
        }
        guard headSeq == tail.seq, headHash == tail.hash else {
            throw CompactionError.archiveDoesNotContinue(
                path: path, reason: "its last row (seq \(tail.seq)) is not the one its last write recorded "
                    + "(seq \(headSeq.map(String.init) ?? "none")); run `brokerd journal verify` on it")
        }
        return tail
    }
}
