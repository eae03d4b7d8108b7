import Foundation
import Journal

/// Overwrites one page two thirds into a closed SQLite file with garbage, as bit rot would: the rows
/// on that page can no longer be read. In a journal that only grew, that is a page of event rows.
public func damageOnePage(ofDatabaseAt path: String, pageSize: UInt64 = 4_096) throws {
    // Pages still in a write-ahead log would be read from there, not from the damaged file.
    guard !FileManager.default.fileExists(atPath: path + "-wal") else { throw PageDamageError.logLeftBehind(path) }
    let file = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? file.close() }
    let pages = try file.seekToEnd() / pageSize
    try file.seek(toOffset: pages * 2 / 3 * pageSize)
    try file.write(contentsOf: Data(repeating: 0xFF, count: Int(pageSize)))
}

public enum PageDamageError: Error {
    /// The file's write-ahead log is still there: close every connection first.
    case logLeftBehind(String)
}

/// The last seq a reader gets before reading fails, nil when every row can be read.
public func lastSeqReadBeforeAnError(_ path: String) -> UInt64? {
    var last: UInt64 = 0
    do {
        let cursor = try JournalReader(path: path).records()
        while let row = try cursor.next() { last = row.seq }
        return nil
    } catch {
        return last
    }
}
