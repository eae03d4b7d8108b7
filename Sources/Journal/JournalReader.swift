import CSQLite3
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only view of a journal file on its own connection; safe to use while a broker appends.
///
/// One reader is used by one thread at a time.
public final class JournalReader {
    public let path: String
    private let db: SQLiteConnection
    /// While the file is read immutable: a shared lock on the lock file `serve` takes exclusively,
    /// so no broker starts writing the file under the reader (-1 otherwise).
    private let writerLockOut: Int32

    /// Opens `path` read-only and checks that it is a journal this build understands; its page
    /// cache grows to `cacheMiB`.
    public init(path: String, cacheMiB: Int = JournalOptions.defaultCacheMiB) throws(JournalError) {
        self.path = path
        do {
            db = try Self.connect(path, immutable: false)
            writerLockOut = -1
        } catch {
            // A journal in WAL mode needs its shared memory file, which a reader without write
            // access to the directory cannot make while no writer has it open. With no write-ahead
            // log beside it, nothing writes the file: read it as it is (a backup, read-only media,
            // a stopped broker's journal owned by another user), keeping a broker from starting on
            // it meanwhile: SQLite reads an immutable file without locks, and would read rows a
            // checkpoint rewrote under it.
            guard case .cannotOpen(_, let sqlite) = error, [SQLITE_READONLY, SQLITE_CANTOPEN].contains(sqlite.code & 0xff),
                let lockOut = Self.lockOutWriter(of: path)
            else { throw error }
            do throws(JournalError) {
                // Looked for once the lock is held: a broker that started before has its log there.
                guard access(path + "-wal", F_OK) != 0 else { throw error }
                db = try Self.connect(path, immutable: true)
            } catch {
                if lockOut >= 0 { close(lockOut) }
                throw error
            }
            writerLockOut = lockOut
        }
        do {
            try JournalSchema.configure(db, readOnly: true, cacheMiB: cacheMiB)
        } catch {
            throw .readFailed(error)
        }
    }

    deinit {
        if writerLockOut >= 0 { close(writerLockOut) }
    }

    /// A shared lock on the journal's lock file, which `serve` locks exclusively: while it is held,
    /// no broker starts on the file (it exits as the journal being in use). -1 when there is no lock
    /// file to hold (no broker ever served the file where it is: read-only media, a copy); nil when
    /// a broker holds it.
    private static func lockOutWriter(of path: String) -> Int32? {
        let fd = open(JournalFileLock.realPath(path) + ".lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return -1 }
        guard flock(fd, LOCK_SH | LOCK_NB) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    private static func connect(_ path: String, immutable: Bool) throws(JournalError) -> SQLiteConnection {
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path, readOnly: true, immutable: immutable)
        } catch {
            throw .cannotOpen(path: path, error)
        }
        try JournalSchema.prepare(db, path: path, readOnly: true)
        return db
    }

    /// seq and timestamp of the last row, or nil when the journal has no rows.
    public func last() throws(JournalError) -> JournalPosition? {
        try JournalPosition.read(db, "SELECT seq, ts FROM events ORDER BY seq DESC LIMIT 1")
    }

    /// seq and timestamp of the last row at or before `seq` of one of `kinds`, or nil when there is none.
    public func last(ofKinds kinds: Set<UInt16>, atOrBefore seq: UInt64) throws(JournalError) -> JournalPosition? {
        // Kinds and seq are integers, so writing them into the SQL cannot inject anything.
        let kindList = kinds.sorted().map(String.init).joined(separator: ",")
        return try JournalPosition.read(db, "SELECT seq, ts FROM events WHERE seq <= \(seq) AND kind IN (\(kindList)) ORDER BY seq DESC LIMIT 1")
    }

    /// seq and timestamp of the first row, or nil when the journal has no rows.
    public func first() throws(JournalError) -> JournalPosition? {
        try JournalPosition.read(db, "SELECT seq, ts FROM events ORDER BY seq LIMIT 1")
    }

    /// The rows matching `query`, streamed in seq order.
    public func records(_ query: JournalQuery = JournalQuery()) throws(JournalError) -> JournalCursor {
        var fromSeq = query.fromSeq
        if let fromTime = query.fromTime {
            guard let seq = try firstSeq(atOrAfter: fromTime) else {
                return try cursor(sql: "SELECT seq, ts, kind, key, payload, hash FROM events WHERE 0", query: query)
            }
            fromSeq = max(fromSeq, seq)
        }
        var sql = "SELECT seq, ts, kind, key, payload, hash FROM events WHERE seq >= \(fromSeq)"
        if let toSeq = query.toSeq { sql += " AND seq <= \(toSeq)" }
        if let kinds = query.kinds {
            // Kinds are integers, so writing them into the SQL cannot inject anything.
            sql += " AND kind IN (\(kinds.sorted().map(String.init).joined(separator: ",")))"
        }
        if query.key != nil { sql += " AND key = ?1" }
        if let keys = query.keys {
            sql += keys.isEmpty ? " AND 0" : " AND key IN (\((2..<(2 + keys.count)).map { "?\($0)" }.joined(separator: ",")))"
        }
        sql += " ORDER BY seq"
        return try cursor(sql: sql, query: query)
    }

    /// The first seq whose timestamp is at or after `timestamp`: a binary search over seq, which
    /// works because timestamps never decrease along the journal (no index needed).
    public func firstSeq(atOrAfter timestamp: Int64) throws(JournalError) -> UInt64? {
        guard let first = try first(), let last = try last() else { return nil }
        if last.timestamp < timestamp { return nil }
        if first.timestamp >= timestamp { return first.seq }
        return try read { () throws(SQLiteError) -> UInt64? in
            let probe = try db.prepare("SELECT ts FROM events WHERE seq >= ?1 ORDER BY seq LIMIT 1", persistent: false)
            var low = first.seq  // ts < timestamp
            var high = last.seq  // ts >= timestamp
            while high - low > 1 {
                let middle = low + (high - low) / 2
                try probe.bind(1, Int64(middle))
                guard try probe.step() else { return high }
                let ts = probe.int64(0)
                probe.reset()
                if ts >= timestamp { high = middle } else { low = middle }
            }
            return high
        }
    }

    /// The last seq whose timestamp is at or before `timestamp`, or nil when this file has no such
    /// row (no rows, or all of them later). The state "at" a time is the state after this seq.
    public func lastSeq(atOrBefore timestamp: Int64) throws(JournalError) -> UInt64? {
        guard let first = try first(), let last = try last(), first.timestamp <= timestamp else { return nil }
        guard timestamp < Int64.max, let next = try firstSeq(atOrAfter: timestamp + 1) else { return last.seq }
        return next - 1
    }

    /// Stored snapshots, newest first.
    public func snapshots() throws(JournalError) -> [SnapshotInfo] {
        try read { () throws(SQLiteError) in try SnapshotStore.list(db) }
    }

    /// The seqs of snapshot rows with a negative seq, which `snapshots()` leaves out: brokerd never
    /// writes one, so the file was changed behind its back. Newest first.
    public func invalidSnapshotSeqs() throws(JournalError) -> [Int64] {
        try read { () throws(SQLiteError) in try SnapshotStore.invalidSeqs(db) }
    }

    /// The bytes of the snapshot at `seq`, checked against their stored SHA-256.
    /// - Throws: `JournalError.corruptSnapshot` when they do not match.
    public func snapshotData(seq: UInt64) throws(JournalError) -> [UInt8] {
        try SnapshotStore.read(db, seq: seq)
    }

    /// Walks the whole hash chain and reports the first row that breaks it.
    ///
    /// A compacted file is walked from its recorded base (the last archived row), so it verifies on
    /// its own; `verify(after:)` also checks the archived rows.
    public func verify() throws(JournalError) -> VerificationReport {
        try ChainVerifier(db: db, path: path).run()
    }

    /// Walks `archives` (oldest first) and then this file as one chain: each file must start
    /// exactly where the previous one ends, with the hashes linking.
    public func verify(after archives: [JournalReader]) throws(JournalError) -> VerificationReport {
        var report: VerificationReport?
        for file in archives + [self] {
            let next = try ChainVerifier(db: file.db, path: file.path).run(continuing: report)
            guard next.isValid else { return next }
            report = next
        }
        // The loop ran at least once (for self), so `report` is set.
        return report!
    }

    /// The seq and hash the last commit recorded (the head anchor); nil for a file without one.
    public func headAnchor() throws(JournalError) -> (seq: UInt64, hash: [UInt8])? {
        do {
            let anchor = try HeadAnchor.read(db)
            guard let seq = anchor.seq, let hash = anchor.hash else { return nil }
            return (seq, hash)
        } catch let error as JournalError {
            throw error
        } catch {
            throw .readFailed(error as? SQLiteError ?? SQLiteError(code: -1, message: "\(error)"))
        }
    }

    /// Where this file's chain starts: genesis, or the last row archived by compaction.
    public func chainBase() throws(JournalError) -> ChainBase {
        do {
            return try ChainBase.read(db)
        } catch let error as JournalError {
            throw error
        } catch {
            throw .readFailed(error as? SQLiteError ?? SQLiteError(code: -1, message: "\(error)"))
        }
    }

    /// True when the file is an archive written by `JournalCompactor` rather than a live journal.
    public func isArchive() throws(JournalError) -> Bool {
        try read { () throws(SQLiteError) in try JournalSchema.role(db) == JournalSchema.archiveRole }
    }

    /// Row counts by kind, first and last row, chain base and snapshots, all from one consistent read.
    public func statistics() throws(JournalError) -> JournalFileStatistics {
        do {
            return try db.readConsistently { () throws -> JournalFileStatistics in
                var counts: [UInt16: UInt64] = [:]
                let byKind = try db.prepare("SELECT kind, count(*) FROM events GROUP BY kind", persistent: false)
                while try byKind.step() {
                    counts[UInt16(truncatingIfNeeded: byKind.int64(0))] = UInt64(byKind.int64(1))
                }
                var snapshots: [JournalFileStatistics.Snapshot] = []
                for info in try SnapshotStore.list(db) {
                    let checksumOK: Bool
                    do {
                        _ = try SnapshotStore.read(db, seq: info.seq)
                        checksumOK = true
                    } catch JournalError.corruptSnapshot {
                        checksumOK = false
                    }
                    snapshots.append(.init(info: info, checksumOK: checksumOK))
                }
                return JournalFileStatistics(
                    countsByKind: counts, first: try first(), last: try last(), base: try ChainBase.read(db),
                    isArchive: try JournalSchema.role(db) == JournalSchema.archiveRole, snapshots: snapshots,
                    invalidSnapshotSeqs: try SnapshotStore.invalidSeqs(db))
            }
        } catch let error as JournalError {
            throw error
        } catch {
            throw .readFailed(error as? SQLiteError ?? SQLiteError(code: -1, message: "\(error)"))
        }
    }

    /// Bytes on disk of the journal file and of its write-ahead log (0 when there is none).
    public func diskUsage() -> (main: Int64, wal: Int64) {
        Self.diskUsage(ofJournalAt: path)
    }

    /// Bytes on disk of the journal file at `path` and of its write-ahead log (0 when there is none).
    static func diskUsage(ofJournalAt path: String) -> (main: Int64, wal: Int64) {
        (size(ofFileAt: path), size(ofFileAt: path + "-wal"))
    }

    private static func size(ofFileAt path: String) -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return Int64(info.st_size)
    }

    private func cursor(sql: String, query: JournalQuery) throws(JournalError) -> JournalCursor {
        try read { () throws(SQLiteError) -> JournalCursor in
            let statement = try db.prepare(sql, persistent: false)
            if let key = query.key { try statement.bind(1, key) }
            for (offset, key) in (query.keys ?? []).sorted().enumerated() {
                try statement.bind(Int32(2 + offset), key)
            }
            return JournalCursor(statement: statement, toTime: query.toTime)
        }
    }

    /// The size SQLite's page cache of this connection may grow to, in KiB.
    func pageCacheKiB() throws(JournalError) -> Int64 {
        try read { () throws(SQLiteError) in -(try db.scalarInt("PRAGMA cache_size") ?? 0) }
    }

    private func read<T>(_ body: () throws(SQLiteError) -> T) throws(JournalError) -> T {
        do {
            return try body()
        } catch {
            throw .readFailed(error)
        }
    }
}

extension JournalPosition {
    /// The seq and ts of the one row `sql` selects, nil when it selects none.
    static func read(_ db: SQLiteConnection, _ sql: String) throws(JournalError) -> JournalPosition? {
        do {
            let query = try db.prepare(sql, persistent: false)
            guard try query.step() else { return nil }
            return JournalPosition(seq: try query.seq(0) { "a row with seq \($0)" }, timestamp: query.int64(1))
        } catch let error as JournalError {
            throw error
        } catch {
            throw .readFailed(error as? SQLiteError ?? SQLiteError(code: -1, message: "\(error)"))
        }
    }
}
