import CSQLite3

/// Raw SQL against a journal file, the way someone tampering with it would edit it.
public func rawSQL(_ path: String, _ sql: String) throws {
    var db: OpaquePointer?
    guard sqlite3_open(path, &db) == SQLITE_OK else { throw RawSQLError(message: "cannot open \(path)") }
    defer { sqlite3_close(db) }
    var message: UnsafeMutablePointer<CChar>?
    if sqlite3_exec(db, sql, nil, nil, &message) != SQLITE_OK {
        let text = message.map { String(cString: $0) } ?? "?"
        sqlite3_free(message)
        throw RawSQLError(message: text)
    }
}

public struct RawSQLError: Error {
    public let message: String
}


/// SQLite's write lock on a journal file, taken as another process would (`BEGIN IMMEDIATE`) and
/// held until `release()`: the broker's appends wait for it, then fail.
public final class HeldWriteLock {
    private var db: OpaquePointer?

    public init(_ path: String) throws {
        guard sqlite3_open(path, &db) == SQLITE_OK, sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil) == SQLITE_OK else {
            sqlite3_close(db)
            throw RawSQLError(message: "cannot take the write lock of \(path)")
        }
    }

    /// Lets the lock go; later calls do nothing.
    public func release() {
        guard let db else { return }
        sqlite3_exec(db, "ROLLBACK", nil, nil, nil)
        sqlite3_close(db)
        self.db = nil
    }

    deinit { release() }
}
