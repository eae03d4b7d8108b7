import CSQLite3
import Foundation

/// Copies the SQLite file at `path` to `copy` as a crash half-way through a write transaction
/// would leave it on disk: `sql` runs inside a transaction (rollback journal, a one-page cache so
/// changed pages reach the file), both files are copied while it is open, then it is rolled back.
/// The copy has a hot journal (`copy`-journal) that only a read-write connection can roll back.
public func copyCutOffMidWrite(_ path: String, to copy: String, running sql: String) throws {
    var db: OpaquePointer?
    guard sqlite3_open(path, &db) == SQLITE_OK else { throw RawSQLError(message: "cannot open \(path)") }
    defer { sqlite3_close(db) }
    func run(_ statement: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        guard sqlite3_exec(db, statement, nil, nil, &message) == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "?"
            sqlite3_free(message)
            throw RawSQLError(message: text)
        }
    }
    try run("PRAGMA journal_mode = DELETE; PRAGMA cache_size = 1; BEGIN IMMEDIATE; \(sql)")
    defer { try? run("ROLLBACK") }
    guard FileManager.default.fileExists(atPath: path + "-journal") else { throw RawSQLError(message: "no rollback journal mid-write") }
    try FileManager.default.copyItem(atPath: path, toPath: copy)
    try FileManager.default.copyItem(atPath: path + "-journal", toPath: copy + "-journal")
}
