/// The outcome of walking a journal's hash chain.
public struct VerificationReport: Sendable, Hashable {
    /// Rows whose hash was checked.
    public var checkedRows: UInt64
    /// The seq the first checked row chains to: 0, or the last archived seq of a compacted file.
    public var baseSeq: UInt64
    /// The last seq of the journal (or of its base when it has no rows).
    public var lastSeq: UInt64
    /// The first seq at which the chain breaks; nil when the whole chain holds.
    public var firstBadSeq: UInt64?
    /// What is wrong at `firstBadSeq`.
    public var problem: String?
    /// The file in which the walk ended: where the chain breaks, or the last file walked.
    public var path: String
    /// Hash of the row at `lastSeq`, which the next file of the chain must start from.
    public var lastHash: [UInt8]
    /// Timestamp of the row at `lastSeq`, UTC microseconds.
    public var lastTimestamp: Int64

    /// True when no row breaks the chain.
    public var isValid: Bool { firstBadSeq == nil }
}

/// Recomputes every row's hash from its predecessor and checks seqs, timestamps and the head anchor.
///
/// The walk runs in one read transaction, so a broker appending meanwhile cannot make the rows and
/// the head anchor disagree.
struct ChainVerifier {
    let db: SQLiteConnection
    let path: String

    /// Walks this file; with `previous`, its base must be exactly where that file's chain ended.
    func run(continuing previous: VerificationReport? = nil) throws(JournalError) -> VerificationReport {
        do {
            return try db.readConsistently { try walk(continuing: previous) }
        } catch let error as JournalError {
            throw error
        } catch {
            throw .readFailed(error as? SQLiteError ?? SQLiteError(code: -1, message: "\(error)"))
        }
    }

    private func walk(continuing previous: VerificationReport?) throws -> VerificationReport {
        let base = try ChainBase.read(db)
        var hasher = RecordHasher()
        var expectedSeq = base.seq + 1
        var previousHash = base.hash
        var previousTimestamp = base.isCompacted ? base.timestamp : Int64.min
        var checked: UInt64 = 0

        func broken(_ seq: UInt64, _ problem: String) -> VerificationReport {
            VerificationReport(
                checkedRows: (previous?.checkedRows ?? 0) + checked, baseSeq: previous?.baseSeq ?? base.seq,
                lastSeq: expectedSeq - 1, firstBadSeq: seq, problem: problem, path: path, lastHash: previousHash,
                lastTimestamp: max(0, previousTimestamp))
        }

        if let previous {
            if previous.lastSeq < base.seq {
                return broken(previous.lastSeq + 1, "seqs \(previous.lastSeq + 1)...\(base.seq) are in neither file: "
                    + "\(previous.path) ends at seq \(previous.lastSeq), \(path) starts after seq \(base.seq)")
            }
            if previous.lastSeq > base.seq {
                return broken(base.seq + 1, "seqs \(base.seq + 1)...\(previous.lastSeq) are in both \(previous.path) and \(path): "
                    + "an interrupted compaction; run `brokerd journal compact` again with the same --before-seq to finish it")
            }
            if previous.lastHash != base.hash {
                return broken(base.seq + 1, "the chain base recorded in \(path) (seq \(base.seq)) does not match "
                    + "the last row of \(previous.path): the files do not belong together, or one was edited")
            }
        }

        let rows = try db.prepare("SELECT seq, ts, kind, key, payload, hash FROM events ORDER BY seq", persistent: false)
        let cursor = JournalCursor(statement: rows, toTime: nil)
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
        return VerificationReport(
            checkedRows: (previous?.checkedRows ?? 0) + checked, baseSeq: previous?.baseSeq ?? base.seq, lastSeq: lastSeq,
            firstBadSeq: nil, problem: nil, path: path, lastHash: previousHash, lastTimestamp: max(0, previousTimestamp))
    }
}
