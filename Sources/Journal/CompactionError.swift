/// Why a compaction was refused or failed. A refusal leaves both files as they were; a failure
/// midway leaves every row in the archive, the journal or both, and the same command finishes it.
public enum CompactionError: Error, Sendable, CustomStringConvertible {
    /// Opening or reading one of the files failed, or it is not a file compaction can use.
    case journal(JournalError)
    /// SQLite failed midway: a broker held the lock too long, the disk is full, an I/O error…
    case failed(SQLiteError)
    /// The journal and the archive are the same file.
    case sameFile(path: String)
    /// `--before-seq` does not leave at least one archived row and the last row in the live file.
    case beforeSeqOutOfRange(requested: UInt64, firstSeq: UInt64?, lastSeq: UInt64?)
    /// No snapshot at or after `neededSeq` that start-up could use: recovery would need archived rows.
    case noUsableSnapshot(neededSeq: UInt64, skipped: [String])
    /// The live journal's own chain is broken; archiving it would bury the evidence.
    case liveChainBroken(VerificationReport)
    /// The archive file exists but does not continue the live journal's chain.
    case archiveDoesNotContinue(path: String, reason: String)

    public var description: String {
        switch self {
        case .journal(let error):
            "\(error)"
        case .failed(let error):
            "compaction stopped: \(error.message); no row was lost (each one is in the journal, the archive or both): "
                + "run the same command again to finish it"
        case .sameFile(let path):
            "the archive \(path) is the journal itself; pass another file as --archive"
        case .beforeSeqOutOfRange(let requested, let first, let last):
            if let first, let last, first < last {
                "--before-seq \(requested) is out of range: the live journal holds seqs \(first)...\(last), "
                    + "so it must be in \(first + 1)...\(last) (at least one row is archived, the last row stays)"
            } else {
                "--before-seq \(requested) is out of range: the live journal holds "
                    + (first.map { "only seq \($0)" } ?? "no rows") + ", so there is nothing to archive"
            }
        case .noUsableSnapshot(let needed, let skipped):
            "no usable snapshot at seq \(needed) or later in the live journal"
                + (skipped.isEmpty ? "" : " (\(skipped.joined(separator: "; ")))")
                + ": start-up would need the archived rows; run `brokerd journal snapshot` first"
        case .liveChainBroken(let report):
            "the live journal does not verify (first bad seq \(report.firstBadSeq ?? 0): \(report.problem ?? "?")); "
                + "compaction refused, run `brokerd journal verify`"
        case .archiveDoesNotContinue(let path, let reason):
            "the archive \(path) does not continue the journal's chain: \(reason)"
        }
    }
}
