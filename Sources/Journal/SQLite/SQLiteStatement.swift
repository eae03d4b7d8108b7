import CSQLite3

/// A prepared statement; reset and rebind it to reuse it.
final class SQLiteStatement {
    private let statement: OpaquePointer
    // Keeps the connection open for as long as a statement of it exists.
    private let connection: SQLiteConnection

    /// SQLite copies the bytes it is given with this destructor (SQLITE_TRANSIENT is a macro Swift cannot see).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    init(_ statement: OpaquePointer, connection: SQLiteConnection) {
        self.statement = statement
        self.connection = connection
    }

    deinit {
        sqlite3_finalize(statement)
    }

    func reset() {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
    }

    func bind(_ index: Int32, _ value: Int64) throws(SQLiteError) {
        try check(sqlite3_bind_int64(statement, index, value))
    }

    func bind(_ index: Int32, _ value: String?) throws(SQLiteError) {
        guard let value else { return try check(sqlite3_bind_null(statement, index)) }
        // With its byte length, not -1 (up to the first NUL): a string is stored whole, as it is hashed.
        var utf8 = value
        let rc = utf8.withUTF8 { bytes in
            // An empty string must still be text, not NULL: SQLite needs a non-nil pointer.
            let base = bytes.baseAddress.map(UnsafeRawPointer.init) ?? UnsafeRawPointer(bitPattern: 1)!
            return sqlite3_bind_text(statement, index, base.assumingMemoryBound(to: CChar.self), Int32(bytes.count), Self.transient)
        }
        try check(rc)
    }

    func bind(_ index: Int32, bytes: UnsafeRawBufferPointer) throws(SQLiteError) {
        // A zero-length blob must still be a blob, not NULL: SQLite needs a non-nil pointer.
        let base = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        try check(sqlite3_bind_blob(statement, index, base, Int32(bytes.count), Self.transient))
    }

    func bind(_ index: Int32, bytes: [UInt8]) throws(SQLiteError) {
        // An empty array still passes a valid pointer, so an empty payload stays a blob, not NULL.
        try check(sqlite3_bind_blob(statement, index, bytes, Int32(bytes.count), Self.transient))
    }

    /// Advances the statement; true while it yields a row.
    func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(statement)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc)
        }
    }

    /// Runs a statement that yields no rows, then resets it.
    func run() throws(SQLiteError) {
        defer { reset() }
        _ = try step()
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }

    func isInteger(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_INTEGER }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }

    func string(_ column: Int32) -> String? {
        guard let text = sqlite3_column_text(statement, column) else { return nil }
        let count = Int(sqlite3_column_bytes(statement, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func bytes(_ column: Int32) -> [UInt8] {
        // Ask for the pointer before the length, as SQLite's documentation requires.
        guard let blob = sqlite3_column_blob(statement, column) else { return [] }
        let count = Int(sqlite3_column_bytes(statement, column))
        return Array(UnsafeRawBufferPointer(start: blob, count: count))
    }

    private func check(_ rc: Int32) throws(SQLiteError) {
        if rc != SQLITE_OK { throw connection.error(rc) }
    }
}
