/// Streams the rows of a query one at a time: memory stays constant however long the journal.
public final class JournalCursor {
    private let statement: SQLiteStatement
    private let toTime: Int64?
    private var done = false

    init(statement: SQLiteStatement, toTime: Int64?) {
        self.statement = statement
        self.toTime = toTime
    }

    /// The next row, or nil at the end.
    public func next() throws(JournalError) -> JournalRecord? {
        guard !done else { return nil }
        let hasRow: Bool
        do {
            hasRow = try statement.step()
        } catch {
            done = true
            throw .readFailed(error)
        }
        guard hasRow else {
            done = true
            return nil
        }
        let seq = try statement.seq(0) { "a row with seq \($0)" }
        let timestamp = statement.int64(1)
        // Timestamps never decrease along the journal, so the first one past the end ends the scan.
        if let toTime, timestamp > toTime {
            done = true
            return nil
        }
        return JournalRecord(
            seq: seq,
            timestamp: timestamp,
            kind: UInt16(truncatingIfNeeded: statement.int64(2)),
            key: statement.string(3),
            payload: statement.bytes(4),
            hash: statement.bytes(5))
    }
}
