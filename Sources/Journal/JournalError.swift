/// Why a journal operation failed.
public enum JournalError: Error, Sendable, CustomStringConvertible {
    /// The file exists but is not an SQLite database, or not one brokerd wrote.
    case notAJournal(path: String, reason: String)
    /// The file's rows no longer match what its last commit recorded: it was changed outside brokerd.
    case tampered(path: String, reason: String)
    /// The journal was written by a newer brokerd whose format this build cannot read.
    case newerFormat(path: String, found: Int64, supported: Int64)
    /// SQLite refused to open the file.
    case cannotOpen(path: String, SQLiteError)
    /// Another open journal holds the file's writer lock: another `brokerd serve` (pid `holder`,
    /// when known) appends to it.
    case inUse(path: String, holder: Int32?)
    /// The writer lock file could not be created or locked.
    case cannotLock(path: String, reason: String)
    /// A write to the file was cut off half-way (its rollback journal is beside it), and a
    /// read-only connection cannot roll it back: an interrupted `brokerd journal compact` leaves
    /// its archive so.
    case unfinishedWrite(path: String)
    /// The disk or the configured size limit is full; nothing of the failed batch was kept.
    case diskFull(SQLiteError)
    /// A write failed; nothing of the failed batch was kept.
    case writeFailed(SQLiteError)
    /// A read failed.
    case readFailed(SQLiteError)
    /// The journal has been closed.
    case closed
    /// The file holds a value brokerd never writes (a negative seq, say): it was changed outside
    /// brokerd or is damaged. `reason` names the value and where it is.
    case malformed(reason: String)
    /// Storing a snapshot failed; no event was affected.
    case snapshotNotStored(SQLiteError)
    /// A snapshot's stored checksum does not match its bytes.
    case corruptSnapshot(seq: UInt64)
    /// No snapshot is stored at that seq.
    case noSuchSnapshot(seq: UInt64)
    /// An earlier rollback failed, so the writer stopped to keep the file consistent; reopen the journal.
    case writerStopped(SQLiteError)

    public var description: String {
        switch self {
        case .notAJournal(let path, let reason): "\(path) is not a brokerd journal: \(reason)"
        case .tampered(let path, let reason): "\(path) was changed outside brokerd: \(reason)"
        case .newerFormat(let path, let found, let supported):
            "\(path) has journal format \(found), this brokerd reads up to \(supported): upgrade brokerd"
        case .cannotOpen(let path, let error): "cannot open \(path): \(error.message)"
        case .inUse(let path, let holder?):
            "\(path) is in use by another brokerd (pid \(holder)): one process appends to a journal; "
                + "stop that one, or give this one a journal of its own"
        case .inUse(let path, nil):
            "\(path) is in use by another brokerd, or by a `brokerd journal` command reading it without write access to "
                + "its directory: one process appends to a journal, and none while such a read lasts"
        case .cannotLock(let path, let reason): "cannot lock \(path): \(reason)"
        case .unfinishedWrite(let path):
            "\(path) has a write that was cut off half-way (\(path)-journal is beside it), which a read-only tool cannot "
                + "roll back; if it is an archive of an interrupted `brokerd journal compact`, run the same command again: "
                + "it finishes the compaction"
        case .diskFull(let error): "journal is full, append refused: \(error.message)"
        case .writeFailed(let error): "journal write failed, append refused: \(error.message)"
        case .readFailed(let error): "journal read failed: \(error.message)"
        case .malformed(let reason):
            "the file holds \(reason), which brokerd never writes (it was changed outside brokerd, or is damaged); "
                + "run `brokerd journal verify`"
        case .snapshotNotStored(let error): "snapshot not stored: \(error.message)"
        case .closed: "journal is closed"
        case .corruptSnapshot(let seq): "snapshot at seq \(seq) is corrupt (checksum mismatch)"
        case .noSuchSnapshot(let seq): "no snapshot at seq \(seq)"
        case .writerStopped(let error): "journal writer stopped after a failed rollback (\(error.message)); reopen the journal"
        }
    }

    static func classifyWrite(_ error: SQLiteError) -> JournalError {
        error.isDiskFull ? .diskFull(error) : .writeFailed(error)
    }
}
