import CSQLite3

/// Holds a journal file's write lock from another connection, as an offline `brokerd journal
/// compact` does: while it is held, the journal's appends wait out their busy timeout and fail
/// (`writeFailed`, SQLITE_BUSY); once it is released they work again.
public final class JournalWriteLock {
    private var db: OpaquePointer?

    /// Opens `path` and takes its write lock (`BEGIN IMMEDIATE`).
    public init(path: String) throws {
        guard sqlite3_open(path, &db) == SQLITE_OK else {
            sqlite3_close(db)
            throw RawSQLError(message: "cannot open \(path)")
        }
        var message: UnsafeMutablePointer<CChar>?
        if sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, &message) != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? "?"
            sqlite3_free(message)
            sqlite3_close(db)
            db = nil
            throw RawSQLError(message: text)
        }
    }

    deinit { release() }

    /// Gives the lock back; later calls do nothing.
    public func release() {
        guard let db else { return }
        sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
        sqlite3_close(db)
        self.db = nil
    }
}
