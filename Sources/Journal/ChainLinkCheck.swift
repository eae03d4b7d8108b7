import Crypto

/// A row read in seq order that does not chain to the row before it: edited, replaced or moved
/// outside brokerd, or damaged. The state built from it cannot be trusted.
public struct BrokenChain: Error, CustomStringConvertible {
    public let seq: UInt64
    public let path: String

    public var description: String {
        "row seq \(seq) in \(path) does not chain to the row before it (hash mismatch: the row was edited, "
            + "replaced or moved, or the file is damaged); run `brokerd journal verify` and restore the journal from a backup"
    }
}

/// Checks rows read in seq order against the hash chain as they go by: each row's stored hash
/// must be the hash of its content and the stored hash of the row before it. What a replay needs
/// so that the state it builds is the journal's and not an edited one's; `verify` walks a whole
/// file and more (timestamps, the head anchor, SQLite's page check).
///
/// It starts from a stored hash (`JournalReader.storedHash(atSeq:)`), so it vouches for the rows it
/// saw, not for the ones before them.
public struct ChainLinkCheck {
    private var hasher = RecordHasher()
    private var previousHash: [UInt8]
    private let path: String

    /// Checks rows that follow the row whose stored hash is `previousHash`, read from `path`.
    public init(after previousHash: [UInt8], path: String) {
        self.previousHash = previousHash
        self.path = path
    }

    /// Checks the next row (the one after the last checked).
    /// - Throws: `BrokenChain` when its stored hash is not the one its content and predecessor give.
    public mutating func check(_ record: JournalRecord) throws(BrokenChain) {
        guard hasher.hash(previous: previousHash, record: record) == record.hash else {
            throw BrokenChain(seq: record.seq, path: path)
        }
        previousHash = record.hash
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
