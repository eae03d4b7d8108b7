import Foundation
import Journal
@_exported import TestSupport

/// A record with a recognisable payload, for tests that do not care about event meaning.
func record(_ n: Int, kind: UInt16 = 1, key: String? = nil) -> NewRecord {
    NewRecord(kind: kind, key: key ?? "client_\(n % 7)", payload: Array("event-\(n)".utf8))
}

/// Appends `count` records one by one and returns their seqs.
@discardableResult
func appendRecords(_ journal: Journal, count: Int, kind: UInt16 = 1) async throws -> [UInt64] {
    var seqs: [UInt64] = []
    for n in 0..<count {
        seqs.append(try await journal.append(record(n, kind: kind)).seq)
    }
    return seqs
}

/// Reads every record a query yields.
func readAll(_ path: String, _ query: JournalQuery = JournalQuery()) throws -> [JournalRecord] {
    let cursor = try JournalReader(path: path).records(query)
    var records: [JournalRecord] = []
    while let next = try cursor.next() { records.append(next) }
    return records
}

/// The built products directory (where `journal-bench` lives), found next to the test bundle.
func productsDirectory() -> URL {
    if let override = ProcessInfo.processInfo.environment["BROKERD_BIN_DIR"] {
        return URL(fileURLWithPath: override)
    }
    var url = Bundle.main.bundleURL
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("journal-bench").path) { return url }
        url.deleteLastPathComponent()
    }
    return Bundle.main.bundleURL
}

/// A closed journal file in a fresh directory holding `count` records (seqs 1…count).
func journalWithRows(_ count: Int) async throws -> (TemporaryDirectory, String) {
    let dir = try TemporaryDirectory()
    let path = dir.path("j.sqlite")
    let journal = try Journal.open(path: path)
    try await appendRecords(journal, count: count)
    journal.close()
    return (dir, path)
}

/// Writes a closed journal of 4,000 rows to `path`, then damages one page of it.
func writeDamagedJournal(_ path: String) async throws {
    let journal = try Journal.open(path: path)
    for batch in 0..<40 {
        _ = try await journal.append(contentsOf: (0..<100).map { record(batch * 100 + $0) })
    }
    journal.close()
    try damageOnePage(ofDatabaseAt: path)
}
