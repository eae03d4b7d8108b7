/// What a journal file holds: rows by kind, its seq range and chain base, and its snapshots.
public struct JournalFileStatistics: Sendable, Hashable {
    /// A stored snapshot and whether its bytes still match their checksum.
    public struct Snapshot: Sendable, Hashable {
        /// Seq, time, format and size of the snapshot.
        public var info: SnapshotInfo
        /// False when the stored SHA-256 does not match the bytes: start-up will skip it.
        public var checksumOK: Bool
    }

    /// Row count per kind number.
    public var countsByKind: [UInt16: UInt64]
    /// The first row, nil when the file has no rows.
    public var first: JournalPosition?
    /// The last row, nil when the file has no rows.
    public var last: JournalPosition?
    /// Where the chain of this file starts (not genesis once rows were archived).
    public var base: ChainBase
    /// True for an archive written by compaction.
    public var isArchive: Bool
    /// Stored snapshots, newest first.
    public var snapshots: [Snapshot]
    /// Seqs of snapshot rows with a negative seq, left out of `snapshots`: nothing can load them.
    public var invalidSnapshotSeqs: [Int64] = []

    /// Rows in the file.
    public var rowCount: UInt64 { countsByKind.values.reduce(0, +) }
}
