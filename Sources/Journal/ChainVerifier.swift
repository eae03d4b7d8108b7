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
/// the head anchor disagree. Whatever the file holds, the walk ends in a report, not a crash: values
/// brokerd never writes and pages SQLite cannot read are named at the first seq they affect.
struct ChainVerifier {
    let db: SQLiteConnection
    let path: String

    /// Walks this file; with `previous`, its base must be exactly where that file's chain ended.
    func run(continuing previous: VerificationReport? = nil) throws(JournalError) -> VerificationReport {
        do {
            return try db.readConsistently { () throws -> VerificationReport in
                var walk = ChainWalk(path: path, previous: previous)
                do {
                    return try walk.run(db)
                } catch JournalError.malformed(let reason) {
                    return walk.broken(walk.expectedSeq, "the file holds \(reason), which brokerd never writes")
                } catch {
                    // A damaged page: everything before it verified, nothing from it on can be trusted.
                    guard let damage = Self.unreadable(error) else { throw error }
                    return walk.broken(walk.expectedSeq, "the file cannot be read from here on (\(damage.message)): it is damaged")
                }
            }
        } catch let error as JournalError {
            throw error
        } catch {
            throw .readFailed(error as? SQLiteError ?? SQLiteError(code: -1, message: "\(error)"))
        }
    }

    /// The SQLite error of a read that failed because the file is damaged, else nil.
    private static func unreadable(_ error: any Error) -> SQLiteError? {
        let sqlite: SQLiteError? = switch error {
        case let error as SQLiteError: error
        case JournalError.readFailed(let error): error
        default: nil
        }
        return sqlite.flatMap { $0.isUnreadableData ? $0 : nil }
    }
}

/// How far one walk got: enough to report where the chain breaks, whenever it does.
private struct ChainWalk {
    let path: String
    let previous: VerificationReport?
    var hasher = RecordHasher()
    /// This file's base seq, once read.
    var baseSeq: UInt64
    var expectedSeq: UInt64
    var previousHash: [UInt8]
    var previousTimestamp = Int64.min
    var checked: UInt64 = 0

    init(path: String, previous: VerificationReport?) {
        self.path = path
        self.previous = previous
        baseSeq = previous?.lastSeq ?? 0
        expectedSeq = baseSeq + 1
        previousHash = previous?.lastHash ?? JournalSchema.genesisHash
    }

    func broken(_ seq: UInt64, _ problem: String) -> VerificationReport {
        VerificationReport(
            checkedRows: (previous?.checkedRows ?? 0) + checked, baseSeq: previous?.baseSeq ?? baseSeq,
            lastSeq: expectedSeq - 1, firstBadSeq: seq, problem: problem, path: path, lastHash: previousHash,
            lastTimestamp: max(0, previousTimestamp))
    }

    mutating func run(_ db: SQLiteConnection) throws -> VerificationReport {
        let base = try ChainBase.read(db)
        baseSeq = base.seq
        expectedSeq = base.seq + 1
        previousHash = base.hash
        previousTimestamp = base.isCompacted ? base.timestamp : Int64.min

        if let previous {
            if previous.lastSeq < base.seq {
                return broken(previous.lastSeq + 1, "seqs \(previous.lastSeq + 1)...\(base.seq) are in neither file: "
                    + "\(previous.path) ends at seq \(previous.lastSeq), \(path) starts after seq \(base.seq)")
            }
            if previous.lastSeq > base.seq {
                // An interrupted compaction leaves the same rows in both; another journal's archive
                // has rows of its own at those seqs.
                let overlap = try db.prepare("SELECT hash FROM events WHERE seq = ?1", persistent: false)
                try overlap.bind(1, Int64(previous.lastSeq))
                guard try overlap.step(), overlap.bytes(0) == previous.lastHash else {
                    return broken(base.seq + 1, "\(previous.path) is not an archive of \(path): both hold seqs \(base.seq + 1)..."
                        + "\(previous.lastSeq), and their rows at seq \(previous.lastSeq) differ (an archive of another journal?)")
                }
                return broken(base.seq + 1, "seqs \(base.seq + 1)...\(previous.lastSeq) are in both \(previous.path) and \(path): "
                    + "an interrupted compaction; run `brokerd journal compact` again with the same --before-seq to finish it")
            }
            if previous.lastHash != base.hash {
                return broken(base.seq + 1, "the chain base recorded in \(path) (seq \(base.seq)) does not match "
                    + "the last row of \(previous.path): the files do not belong together, or one was edited")
            }
        }

        // Rows at or before the base (negative seqs among them) sort first: the chain cannot start there.
        let stray = try db.prepare("SELECT seq FROM events WHERE seq <= ?1 ORDER BY seq LIMIT 1", persistent: false)
        try stray.bind(1, Int64(base.seq))
        if try stray.step() {
            return broken(expectedSeq, "row seq \(stray.int64(0)) is out of order (this file's chain starts at seq \(expectedSeq))")
        }

        let rows = try db.prepare(
            "SELECT seq, ts, kind, key, payload, hash FROM events WHERE seq > ?1 ORDER BY seq", persistent: false)
        try rows.bind(1, Int64(base.seq))
        let cursor = JournalCursor(statement: rows, toTime: nil)
        while let row = try cursor.next() {
            if row.seq != expectedSeq {
                return broken(expectedSeq, "seq \(expectedSeq) is missing (next row is seq \(row.seq))")
            }
            let hash = hasher.hash(previous: previousHash, record: row)
            if hash != row.hash {
                return broken(row.seq, "hash mismatch: the row was edited, replaced or moved")
            }
            if !ISOTimestamp.formattableRange.contains(row.timestamp) {
                return broken(row.seq, "timestamp \(row.timestamp) is outside the years 0001–9999, which brokerd never writes")
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
        let anchor = try HeadAnchor.read(db)
        let anchoredHash = anchor.hash
        if let anchoredSeq = anchor.seq {
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
        // Rows that read back and chain can still sit on a damaged file: a truncated WAL or a
        // flipped bit in a b-tree page hides rows from the walk above (each row it reached
        // chained) or breaks the next write. SQLite's own check reads every page.
        let check = try db.prepare("PRAGMA quick_check(1)", persistent: false)
        if try check.step(), let verdict = check.string(0), verdict != "ok" {
            return broken(base.seq + 1, "SQLite's integrity check fails (\(verdict.prefix(200))): the file is damaged, "
                + "no row of it can be trusted; restore it from a backup")
        }
        return VerificationReport(
            checkedRows: (previous?.checkedRows ?? 0) + checked, baseSeq: previous?.baseSeq ?? base.seq, lastSeq: lastSeq,
            firstBadSeq: nil, problem: nil, path: path, lastHash: previousHash, lastTimestamp: max(0, previousTimestamp))
    }
}
