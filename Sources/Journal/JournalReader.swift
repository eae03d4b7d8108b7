/// A read-only view of a journal file on its own connection; safe to use while a broker appends.
///
/// One reader is used by one thread at a time.
public final class JournalReader {
    public let path: String
    private let db: SQLiteConnection

    /// Opens `path` read-only and checks that it is a journal this build understands.
    public init(path: String) throws(JournalError) {
        self.path = path
        do {
            db = try SQLiteConnection(path: path, readOnly: true)
        } catch {
            throw .cannotOpen(path: path, error)
        }
        try JournalSchema.prepare(db, path: path, readOnly: true)
        do {
            try JournalSchema.configure(db, readOnly: true)
        } catch {
            throw .readFailed(error)
        }
    }

    /// seq and timestamp of the last row, or nil when the journal has no rows.
    public func last() throws(JournalError) -> JournalPosition? {
        try read { () throws(SQLiteError) -> JournalPosition? in
            let query = try db.prepare("SELECT seq, ts FROM events ORDER BY seq DESC LIMIT 1", persistent: false)
            guard try query.step() else { return nil }
            return JournalPosition(seq: UInt64(query.int64(0)), timestamp: query.int64(1))
        }
    }

    /// seq and timestamp of the first row, or nil when the journal has no rows.
    public func first() throws(JournalError) -> JournalPosition? {
        try read { () throws(SQLiteError) -> JournalPosition? in
            let query = try db.prepare("SELECT seq, ts FROM events ORDER BY seq LIMIT 1", persistent: false)
            guard try query.step() else { return nil }
            return JournalPosition(seq: UInt64(query.int64(0)), timestamp: query.int64(1))
        }
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

    /// Stored snapshots, newest first.
    public func snapshots() throws(JournalError) -> [SnapshotInfo] {
        try read { () throws(SQLiteError) in try SnapshotStore.list(db) }
    }

    /// The bytes of the snapshot at `seq`, checked against their stored SHA-256.
    /// - Throws: `JournalError.corruptSnapshot` when they do not match.
    public func snapshotData(seq: UInt64) throws(JournalError) -> [UInt8] {
        try SnapshotStore.read(db, seq: seq)
    }

    /// Walks the whole hash chain and reports the first row that breaks it.
    public func verify() throws(JournalError) -> VerificationReport {
        try ChainVerifier(db: db).run()
    }

    /// The journal file's size in bytes, WAL not included.
    public func fileSize() throws(JournalError) -> Int64 {
        try read { () throws(SQLiteError) -> Int64 in
            let pages = try db.scalarInt("PRAGMA page_count") ?? 0
            let pageSize = try db.scalarInt("PRAGMA page_size") ?? 0
            return pages * pageSize
        }
    }

    private func cursor(sql: String, query: JournalQuery) throws(JournalError) -> JournalCursor {
        try read { () throws(SQLiteError) -> JournalCursor in
            let statement = try db.prepare(sql, persistent: false)
            if let key = query.key { try statement.bind(1, key) }
            return JournalCursor(statement: statement, toTime: query.toTime)
        }
    }

    private func read<T>(_ body: () throws(SQLiteError) -> T) throws(JournalError) -> T {
        do {
            return try body()
        } catch {
            throw .readFailed(error)
        }
    }
}
