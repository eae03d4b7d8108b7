extension Journal {
    /// Stores a snapshot in the journal file at `path` on a short-lived connection of its own, for
    /// tools that run beside a broker (`brokerd journal snapshot`).
    ///
    /// The broker may be appending meanwhile: SQLite lets one writer in at a time, so this waits up
    /// to `busyTimeoutMilliseconds` for a commit in progress, and the broker's next commit waits for
    /// this one-row write. Prunes to the newest `retained` snapshots, like the broker does.
    /// - Returns: the snapshots stored afterwards, newest first.
    public static func writeSnapshot(
        journalAt path: String, seq: UInt64, format: Int64, data: [UInt8],
        retained: Int = JournalOptions().retainedSnapshots, busyTimeoutMilliseconds: Int32 = 30_000
    ) throws(JournalError) -> [SnapshotInfo] {
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path, readOnly: false, create: false, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        } catch {
            throw .cannotOpen(path: path, error)
        }
        try JournalSchema.prepare(db, path: path, readOnly: true)
        do {
            if try JournalSchema.role(db) == JournalSchema.archiveRole {
                throw JournalError.notAJournal(path: path, reason: "it is an archive; snapshots belong in the live journal")
            }
            try db.execute("PRAGMA synchronous = FULL")
        } catch let error as JournalError {
            throw error
        } catch {
            throw .snapshotNotStored(error as? SQLiteError ?? SQLiteError(code: -1, message: "\(error)"))
        }
        try SnapshotStore.write(db, seq: seq, timestamp: WallClock.microsecondsNow(), format: format, data: data, retained: retained)
        do {
            return try SnapshotStore.list(db)
        } catch {
            throw .readFailed(error)
        }
    }
}
