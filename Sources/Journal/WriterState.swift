import CSQLite3

/// What the writer thread alone knows: the chain's head and the prepared statements.
///
/// Confined to the writer thread (see `GroupCommitWriter`), hence a plain class.
final class WriterState {
    let connection: SQLiteConnection
    private(set) var lastSeq: UInt64
    private(set) var lastTimestamp: Int64
    private var lastHash: [UInt8]
    private var stoppedBy: SQLiteError?
    private var hasher = RecordHasher()

    private let begin: SQLiteStatement
    private let commitStatement: SQLiteStatement
    private let rollback: SQLiteStatement
    private let updateHead: SQLiteStatement
    /// Multi-row INSERTs, largest first: one statement per row costs more than the row itself.
    private let inserts: [(rows: Int, statement: SQLiteStatement)]

    static let insertChunkSizes = [64, 8, 1]

    init(connection db: SQLiteConnection, lastSeq: UInt64, lastTimestamp: Int64, lastHash: [UInt8]) throws(SQLiteError) {
        connection = db
        self.lastSeq = lastSeq
        self.lastTimestamp = lastTimestamp
        self.lastHash = lastHash
        begin = try db.prepare("BEGIN IMMEDIATE")
        commitStatement = try db.prepare("COMMIT")
        rollback = try db.prepare("ROLLBACK")
        updateHead = try db.prepare(
            "INSERT INTO meta(key, value) VALUES ('\(JournalSchema.MetaKey.headSeq)', ?1), ('\(JournalSchema.MetaKey.headHash)', ?2) "
                + "ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        var inserts: [(Int, SQLiteStatement)] = []
        for rows in Self.insertChunkSizes {
            let values = Array(repeating: "(?,?,?,?,?,?)", count: rows).joined(separator: ",")
            inserts.append((rows, try db.prepare("INSERT INTO events(seq, ts, kind, key, payload, hash) VALUES \(values)")))
        }
        self.inserts = inserts
    }

    /// Appends every group in one transaction; all of them or none are kept. The rows carry the
    /// commit time, or `stampedAt` when given (never earlier than the last row's time).
    func commit(_ groups: [[NewRecord]], stampedAt: Int64? = nil) throws(JournalError) -> [GroupCommitWriter.Appended] {
        if let stoppedBy { throw .writerStopped(stoppedBy) }
        // SQLite stores seqs as signed 64-bit integers; only a file edited to end near the limit gets here.
        let rows = groups.reduce(0) { $0 + $1.count }
        guard lastSeq <= UInt64(Int64.max) - UInt64(rows) else {
            throw .writeFailed(SQLiteError(
                code: SQLITE_FULL, message: "no seqs left: the journal ends at seq \(lastSeq), near the largest SQLite stores"))
        }
        let timestamp = max(stampedAt ?? WallClock.microsecondsNow(), lastTimestamp)
        let startSeq = lastSeq
        let startHash = lastHash
        var results: [GroupCommitWriter.Appended] = []
        results.reserveCapacity(groups.count)
        do {
            try begin.run()
            var seq = startSeq
            var previous = startHash
            var staged = RowStager(inserts: inserts)
            for records in groups {
                results.append(.init(firstSeq: seq + 1, count: records.count, timestamp: timestamp))
                for record in records {
                    seq += 1
                    previous = hasher.hash(
                        previous: previous, seq: seq, timestamp: timestamp,
                        kind: record.kind, key: record.key, payload: record.payload)
                    try staged.add(seq: seq, timestamp: timestamp, record: record, hash: previous)
                }
            }
            try staged.finish()
            try updateHead.bind(1, Int64(seq))
            try updateHead.bind(2, bytes: previous)
            try updateHead.run()
            try commitStatement.run()
            lastSeq = seq
            lastHash = previous
            lastTimestamp = timestamp
            return results
        } catch {
            do {
                if connection.isInTransaction { try rollback.run() }
            } catch let rollbackError {
                // The file state is unknown now; refuse further writes rather than risk a broken chain.
                stoppedBy = rollbackError
                throw .writerStopped(rollbackError)
            }
            throw .classifyWrite(error)
        }
    }
}

/// Fills the multi-row INSERTs row by row and runs each when it is full.
private struct RowStager {
    let inserts: [(rows: Int, statement: SQLiteStatement)]
    private var buffered: [(seq: UInt64, timestamp: Int64, record: NewRecord, hash: [UInt8])] = []

    init(inserts: [(rows: Int, statement: SQLiteStatement)]) {
        self.inserts = inserts
        buffered.reserveCapacity(inserts[0].rows)
    }

    mutating func add(seq: UInt64, timestamp: Int64, record: NewRecord, hash: [UInt8]) throws(SQLiteError) {
        buffered.append((seq, timestamp, record, hash))
        if buffered.count == inserts[0].rows {
            try write(buffered[...], with: inserts[0].statement)
            buffered.removeAll(keepingCapacity: true)
        }
    }

    mutating func finish() throws(SQLiteError) {
        var rest = buffered[...]
        for (rows, statement) in inserts.dropFirst() {
            while rest.count >= rows {
                try write(rest.prefix(rows), with: statement)
                rest = rest.dropFirst(rows)
            }
        }
        buffered.removeAll(keepingCapacity: true)
    }

    private func write(
        _ rows: ArraySlice<(seq: UInt64, timestamp: Int64, record: NewRecord, hash: [UInt8])>,
        with statement: SQLiteStatement
    ) throws(SQLiteError) {
        var column: Int32 = 1
        for row in rows {
            try statement.bind(column, Int64(row.seq))
            try statement.bind(column + 1, row.timestamp)
            try statement.bind(column + 2, Int64(row.record.kind))
            try statement.bind(column + 3, row.record.key)
            try statement.bind(column + 4, bytes: row.record.payload)
            try statement.bind(column + 5, bytes: row.hash)
            column += 6
        }
        try statement.run()
    }
}
