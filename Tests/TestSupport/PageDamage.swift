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

/// Overwrites with garbage the page of a closed SQLite file that holds `marker` (the first one
/// that does): the rows on it, and so the row that holds `marker`, can no longer be read.
public func damagePage(holding marker: String, ofDatabaseAt path: String, pageSize: Int = 4_096) throws {
    guard !FileManager.default.fileExists(atPath: path + "-wal") else { throw PageDamageError.logLeftBehind(path) }
    let url = URL(fileURLWithPath: path)
    guard let offset = try Data(contentsOf: url).range(of: Data(marker.utf8))?.lowerBound else {
        throw PageDamageError.markerNotFound(marker)
    }
    let file = try FileHandle(forUpdating: url)
    defer { try? file.close() }
    try file.seek(toOffset: UInt64(offset / pageSize * pageSize))
    try file.write(contentsOf: Data(repeating: 0xFF, count: pageSize))
}

public enum PageDamageError: Error {
    /// The file's write-ahead log is still there: close every connection first.
    case logLeftBehind(String)
    /// No page holds these bytes.
    case markerNotFound(String)
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
