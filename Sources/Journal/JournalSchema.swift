import CSQLite3
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The on-disk layout of a journal file and the checks that a file has it.
enum JournalSchema {
    /// Format of the tables below; bumped when their meaning changes.
    static let formatVersion: Int64 = 1
    /// `PRAGMA application_id` of a brokerd journal ("BRKD").
    static let applicationID: Int64 = 0x4252_4B44
    /// Hash that the first row of a fresh journal chains to.
    static let genesisHash = [UInt8](repeating: 0, count: 32)

    static let createStatements = """
        CREATE TABLE IF NOT EXISTS events(
            seq INTEGER PRIMARY KEY,
            ts INTEGER NOT NULL,
            kind INTEGER NOT NULL,
            key TEXT,
            payload BLOB NOT NULL,
            hash BLOB NOT NULL
        );
        CREATE TABLE IF NOT EXISTS snapshots(
            seq INTEGER PRIMARY KEY,
            ts INTEGER NOT NULL,
            format INTEGER NOT NULL,
            checksum BLOB NOT NULL,
            data BLOB NOT NULL
        );
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
        """

    /// Creates the tables in an empty file, or checks that an existing one is a journal this build reads.
    static func prepare(_ db: SQLiteConnection, path: String, readOnly: Bool) throws(JournalError) {
        let version: Int64
        let application: Int64
        let tableCount: Int64
        do {
            version = try db.scalarInt("PRAGMA user_version") ?? 0
            application = try db.scalarInt("PRAGMA application_id") ?? 0
            tableCount = try db.scalarInt("SELECT count(*) FROM sqlite_master") ?? 0
        } catch {
            if error.isNotADatabase { throw .notAJournal(path: path, reason: "the file is not an SQLite database") }
            // A read-only connection cannot roll back a write cut off half-way ("attempt to write a
            // readonly database"): say what it is and what finishes it.
            if readOnly, access(path + "-journal", F_OK) == 0 { throw .unfinishedWrite(path: path) }
            throw .cannotOpen(path: path, error)
        }
        if version == 0 && application == 0 && tableCount == 0 {
            guard !readOnly else { throw .notAJournal(path: path, reason: "the file is empty") }
            do {
                try db.execute("BEGIN IMMEDIATE")
                try db.execute(createStatements)
                try db.execute("PRAGMA application_id = \(applicationID)")
                try db.execute("PRAGMA user_version = \(formatVersion)")
                try db.execute("COMMIT")
            } catch {
                try? db.execute("ROLLBACK")
                throw .classifyWrite(error)
            }
            return
        }
        guard application == applicationID else {
            throw .notAJournal(path: path, reason: "it is an SQLite database of another application")
        }
        guard version <= formatVersion else {
            throw .newerFormat(path: path, found: version, supported: formatVersion)
        }
    }

    /// Journal-wide settings, and a page cache of `cacheMiB`; the writer connection also sets durability.
    static func configure(_ db: SQLiteConnection, readOnly: Bool, cacheMiB: Int) throws(SQLiteError) {
        if !readOnly {
            try db.execute("PRAGMA journal_mode = WAL")
            // Fewer, larger checkpoints: each one stalls a commit.
            try db.execute("PRAGMA wal_autocheckpoint = 4000")
        }
        try setCacheSize(db, mib: cacheMiB)
        try db.execute("PRAGMA temp_store = MEMORY")
    }

    /// The most the connection's page cache may hold; a smaller size than it holds frees the rest.
    static func setCacheSize(_ db: SQLiteConnection, mib: Int) throws(SQLiteError) {
        // A negative size is in KiB.
        try db.execute("PRAGMA cache_size = -\(max(1, mib) * 1024)")
    }

    static let archiveRole = "archive"

    /// The file's role from the meta table: nil for a live journal, `archiveRole` for an archive.
    static func role(_ db: SQLiteConnection) throws(SQLiteError) -> String? {
        let query = try db.prepare("SELECT value FROM meta WHERE key = ?1", persistent: false)
        try query.bind(1, MetaKey.role)
        return try query.step() ? query.string(0) : nil
    }

    // Keys of the meta table.
    enum MetaKey {
        /// seq and hash of the last committed row, written in the same transaction: catches a cut-off tail.
        static let headSeq = "head_seq"
        static let headHash = "head_hash"
        /// seq and hash that the first row of this file chains to (0 and zeros until compaction archives rows).
        static let baseSeq = "base_seq"
        static let baseHash = "base_hash"
        static let baseTimestamp = "base_ts"
        /// "archive" in a file written by `JournalCompactor`: it holds archived rows and is never appended to by brokerd.
        static let role = "role"
        /// When the process appending to the file was last known alive, UTC microseconds: written
        /// every few seconds while it serves and when it closes the journal, never by the tools.
        static let aliveAt = "alive_at"
        /// The last seq committed then: a later row (appended by a build that does not write
        /// `alive_at`) makes the time stale.
        static let aliveSeq = "alive_seq"
    }
}
