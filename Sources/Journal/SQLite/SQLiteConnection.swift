import CSQLite3

/// A failure reported by SQLite: the result code and SQLite's own message.
public struct SQLiteError: Error, Sendable, CustomStringConvertible {
    /// The primary or extended SQLite result code.
    public let code: Int32
    /// SQLite's message for the failure.
    public let message: String

    /// True when the failure means the disk (or the configured size limit) is full.
    public var isDiskFull: Bool { code & 0xff == SQLITE_FULL }
    /// True when the file is not an SQLite database.
    public var isNotADatabase: Bool { code & 0xff == SQLITE_NOTADB }
    /// True when the bytes on disk could not be read or make no sense: a damaged file, not a busy one.
    public var isUnreadableData: Bool { [SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_IOERR].contains(code & 0xff) }

    public var description: String { "SQLite error \(code): \(message)" }
}

/// One SQLite connection, used by one thread at a time (opened with NOMUTEX).
///
/// Not `Sendable`: the journal confines each connection to the thread that owns it.
final class SQLiteConnection {
    /// Bytes SQLite has allocated in this process, every connection's page cache included.
    static var memoryUsed: Int64 { sqlite3_memory_used() }

    let handle: OpaquePointer

    /// Opens `path`; `create: false` refuses a missing file instead of creating an empty one.
    /// `immutable` (read-only only) reads a file nobody writes without SQLite's locks and shared
    /// memory file, so without write access to its directory.
    init(
        path: String, readOnly: Bool, create: Bool = true, immutable: Bool = false, busyTimeoutMilliseconds: Int32 = 5_000
    ) throws(SQLiteError) {
        var db: OpaquePointer?
        let writeFlags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0)
        var flags = (readOnly ? SQLITE_OPEN_READONLY : writeFlags) | SQLITE_OPEN_NOMUTEX
        var name = path
        if immutable && readOnly {
            name = Self.immutableURI(path)
            flags |= SQLITE_OPEN_URI
        }
        let rc = sqlite3_open_v2(name, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message)
        }
        sqlite3_extended_result_codes(db, 1)
        // A reader may meet a checkpoint or the writer's lock briefly; wait instead of failing.
        sqlite3_busy_timeout(db, busyTimeoutMilliseconds)
        handle = db
    }

    deinit {
        sqlite3_close_v2(handle)
    }

    /// `path` as an SQLite URI filename opening it immutable: `%`, `?` and `#` escaped, and leading
    /// slashes made one (`file://x` would name a host).
    static func immutableURI(_ path: String) -> String {
        var bytes = Array("file:".utf8)
        var rest = Substring(path)
        if rest.hasPrefix("//") { rest = "/" + rest.drop(while: { $0 == "/" }) }
        let hex = Array("0123456789ABCDEF".utf8)
        for byte in rest.utf8 {
            if "%?#".utf8.contains(byte) {
                bytes += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes + Array("?immutable=1".utf8), as: UTF8.self)
    }

    /// Runs one or more statements that return no rows.
    func execute(_ sql: String) throws(SQLiteError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? lastErrorMessage
            sqlite3_free(errorMessage)
            throw SQLiteError(code: rc, message: message)
        }
    }

    /// Prepares a statement meant to be kept and reused.
    func prepare(_ sql: String, persistent: Bool = true) throws(SQLiteError) -> SQLiteStatement {
        var statement: OpaquePointer?
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let rc = sqlite3_prepare_v3(handle, sql, -1, flags, &statement, nil)
        guard rc == SQLITE_OK, let statement else {
            throw SQLiteError(code: rc, message: lastErrorMessage)
        }
        return SQLiteStatement(statement, connection: self)
    }

    /// Returns the single integer a query yields, or nil when it yields no row or NULL.
    func scalarInt(_ sql: String) throws(SQLiteError) -> Int64? {
        let statement = try prepare(sql, persistent: false)
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.int64(0)
    }

    /// Runs `body` inside one read transaction, so every query in it sees the same committed state
    /// even while another connection appends (WAL keeps that snapshot until the transaction ends).
    func readConsistently<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN DEFERRED")
        defer {
            if (try? execute("COMMIT")) == nil { try? execute("ROLLBACK") }
        }
        return try body()
    }

    /// Frames in the write-ahead log and how many of them are copied into the database file.
    struct CheckpointProgress: Equatable {
        var walFrames: Int
        var backfilled: Int
        var isComplete: Bool { backfilled >= walFrames }
    }

    /// Copies what it can of the write-ahead log into the database file without waiting for any
    /// reader or writer (SQLITE_CHECKPOINT_PASSIVE), syncing the log before and the file after as
    /// the connection's `synchronous` setting asks. Nil when another checkpoint was running.
    func checkpointPassive() throws(SQLiteError) -> CheckpointProgress? {
        var frames: Int32 = 0
        var backfilled: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &frames, &backfilled)
        if rc & 0xff == SQLITE_BUSY { return nil }
        guard rc == SQLITE_OK else { throw error(rc) }
        return CheckpointProgress(walFrames: Int(frames), backfilled: Int(backfilled))
    }

    /// False once SQLite has ended the transaction by itself, which it does on some errors (SQLITE_FULL among them).
    var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    var lastErrorMessage: String { String(cString: sqlite3_errmsg(handle)) }

    func error(_ code: Int32) -> SQLiteError { SQLiteError(code: code, message: lastErrorMessage) }
}
