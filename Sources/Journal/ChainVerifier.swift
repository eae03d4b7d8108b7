/// The outcome of walking a journal's hash chain.
public struct VerificationReport: Sendable, Hashable {
    /// Rows whose hash was checked.
    public var checkedRows: UInt64
    /// The last seq of the journal (or of its base when it has no rows).
    public var lastSeq: UInt64
    /// The first seq at which the chain breaks; nil when the whole chain holds.
    public var firstBadSeq: UInt64?
    /// What is wrong at `firstBadSeq`.
    public var problem: String?

    /// True when no row breaks the chain.
    public var isValid: Bool { firstBadSeq == nil }
}

/// Recomputes every row's hash from its predecessor and checks seqs, timestamps and the head anchor.
struct ChainVerifier {
    let db: SQLiteConnection

    func run() throws(JournalError) -> VerificationReport {
        do {
            return try walk()
        } catch let error as JournalError {
            throw error
        } catch {
            throw .readFailed(error as? SQLiteError ?? SQLiteError(code: -1, message: "\(error)"))
        }
    }

    private func walk() throws -> VerificationReport {
        let base = try ChainBase.read(db)
        var hasher = RecordHasher()
        var expectedSeq = base.seq + 1
        var previousHash = base.hash
        var previousTimestamp = Int64.min
        var checked: UInt64 = 0
        let rows = try db.prepare("SELECT seq, ts, kind, key, payload, hash FROM events ORDER BY seq", persistent: false)
        let cursor = JournalCursor(statement: rows, toTime: nil)

        func broken(_ seq: UInt64, _ problem: String) -> VerificationReport {
            VerificationReport(checkedRows: checked, lastSeq: expectedSeq - 1, firstBadSeq: seq, problem: problem)
        }

        while let row = try cursor.next() {
            if row.seq != expectedSeq {
                return broken(expectedSeq, row.seq > expectedSeq
                    ? "seq \(expectedSeq) is missing (next row is seq \(row.seq))"
                    : "row seq \(row.seq) is out of order")
            }
            let hash = hasher.hash(previous: previousHash, record: row)
            if hash != row.hash {
                return broken(row.seq, "hash mismatch: the row was edited, replaced or moved")
            }
            if row.timestamp < previousTimestamp {
                return broken(row.seq, "timestamp goes backwards")
            }
            previousHash = hash
            previousTimestamp = row.timestamp
            expectedSeq += 1
            checked += 1
        }
        let lastSeq = expectedSeq - 1
        let anchor = try db.prepare("SELECT key, value FROM meta WHERE key IN (?1, ?2)", persistent: false)
        try anchor.bind(1, JournalSchema.MetaKey.headSeq)
        try anchor.bind(2, JournalSchema.MetaKey.headHash)
        var anchoredSeq: UInt64?
        var anchoredHash: [UInt8]?
        while try anchor.step() {
            if anchor.string(0) == JournalSchema.MetaKey.headSeq {
                anchoredSeq = UInt64(anchor.int64(1))
            } else {
                anchoredHash = anchor.bytes(1)
            }
        }
        if let anchoredSeq {
            if anchoredSeq > lastSeq {
                return broken(lastSeq + 1, "rows \(lastSeq + 1)...\(anchoredSeq) were committed but are gone")
            }
            if anchoredSeq < lastSeq {
                return broken(anchoredSeq + 1, "rows after the last commit (seq \(anchoredSeq)) were added outside brokerd")
            }
            if let anchoredHash, anchoredHash != previousHash {
                return broken(lastSeq, "the last row differs from the one committed")
            }
        }
        return VerificationReport(checkedRows: checked, lastSeq: lastSeq, firstBadSeq: nil, problem: nil)
    }
}
