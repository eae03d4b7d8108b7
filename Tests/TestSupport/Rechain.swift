@testable import Journal

/// Recomputes every row's hash and the head anchor of the journal at `path`, after `rawSQL` moved
/// rows in time: the journal a broker would have written at those times. For tests that need rows
/// of another time than now; a test of tampering leaves the chain as the edit left it, or, with
/// `anchor: false`, re-hashes the rows but not the anchor, as a forger without it would.
public func rechain(_ path: String, anchor: Bool = true) throws {
    let reader = try JournalReader(path: path)
    var previous = try reader.chainBase().hash
    var hasher = RecordHasher()
    var statements = ["BEGIN"]
    let rows = try reader.records()
    while let row = try rows.next() {
        previous = hasher.hash(previous: previous, record: row)
        statements.append("UPDATE events SET hash = X'\(hex(previous))' WHERE seq = \(row.seq)")
    }
    if anchor { statements.append("UPDATE meta SET value = X'\(hex(previous))' WHERE key = '\(JournalSchema.MetaKey.headHash)'") }
    statements.append("COMMIT")
    try rawSQL(path, statements.joined(separator: ";\n"))
}

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}
