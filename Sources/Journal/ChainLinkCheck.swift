/// A row read in seq order that does not chain to the row before it: edited, replaced or moved
/// outside brokerd, or damaged. The state built from it cannot be trusted.
public struct BrokenChain: Error, CustomStringConvertible {
    public let seq: UInt64
    public let path: String
    /// What is wrong with the row.
    public let problem: String

    /// A row whose stored hash is not the one its content and the row before it give.
    public static let mismatch =
        "does not chain to the row before it (hash mismatch: the row was edited, replaced or moved, or the file is damaged)"
    /// The last row, whose hash is not the one the last commit recorded (the head anchor).
    public static let notCommitted = "differs from the last row committed (edited and re-hashed, or the file is damaged)"
    /// Rows the last commit recorded that the file no longer holds, from `seq` on.
    public static func cutOff(through anchoredSeq: UInt64) -> String {
        "is gone, with the rows after it up to seq \(anchoredSeq): they were committed but the file was cut off (or they were deleted)"
    }

    public init(seq: UInt64, path: String, problem: String = Self.mismatch) {
        self.seq = seq
        self.path = path
        self.problem = problem
    }

    public var description: String {
        "row seq \(seq) in \(path) \(problem); run `brokerd journal verify` and restore the journal from a backup"
    }
}

/// Checks rows read in seq order against the hash chain: each row's stored hash must be the hash
/// of its content and the stored hash of the row before it. What a replay needs so that the state
/// it builds is the journal's and not an edited one's; `verify` walks a whole file and more
/// (timestamps, the head anchor, SQLite's page check).
///
/// Each row is checked against the stored hash before it, not a recomputed one, so batches of
/// rows can be checked apart from one another (beside applying them). Starting from a stored hash
/// (`JournalReader.storedHash(atSeq:)`), it vouches for the rows it saw, not for the ones before.
public struct ChainLinkCheck {
    private var hasher = RecordHasher()

    public init() {}

    /// The seq of the first of `records` (consecutive rows, in seq order) that does not chain,
    /// the first one to the stored hash `previousHash`; nil when all of them do.
    public mutating func firstBrokenSeq(in records: ArraySlice<JournalRecord>, after previousHash: [UInt8]) -> UInt64? {
        var previous = previousHash
        for record in records {
            guard hasher.matches(previous: previous, record: record) else { return record.seq }
            previous = record.hash
        }
        return nil
    }
}

extension JournalReader {
    /// The hash stored for `seq` in this file: its row's, or the chain base's when `seq` is the base
    /// (the genesis hash for 0). Nil when the file holds neither.
    public func storedHash(atSeq seq: UInt64) throws(JournalError) -> [UInt8]? {
        let base = try chainBase()
        if seq == base.seq { return base.hash }
        return try records(JournalQuery(fromSeq: seq, toSeq: seq)).next()?.hash
    }
}
