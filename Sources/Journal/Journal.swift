import Crypto
import Synchronization

/// The append-only event log of one SQLite file: group-committed appends, hash-chained rows,
/// snapshots. Reads go through `JournalReader`, on connections of their own.
public final class Journal: Sendable {
    /// The file this journal lives in.
    public let path: String
    /// As opened; the durability and the cache size may change since (`durability`, `cacheMiB`).
    public let options: JournalOptions
    /// How hard commits wait for the disk now: `options.durability`, or what `setDurability(_:)` set last.
    private let currentDurability: Mutex<Durability>
    /// The page cache of each connection now: `options.cacheMiB`, or what `setCacheMiB(_:)` set last.
    private let currentCacheMiB: Mutex<Int>
    private let writer: GroupCommitWriter
    private let checkpointer: WALCheckpointer
    /// This journal is the file's one writer while it holds this.
    private let lock: JournalFileLock
    /// Snapshots past the last row that opening removed (newest first): states the journal does
    /// not hold, left by a file that lost its last rows.
    public let removedSnapshotSeqs: [UInt64]
    /// When the process that appended to the file before this one was last known alive (see
    /// `recordAlive()`), UTC microseconds; nil for a file no such process wrote it to.
    public let lastAliveBeforeOpen: Int64?

    private init(
        path: String, options: JournalOptions, writer: GroupCommitWriter, checkpointer: WALCheckpointer, lock: JournalFileLock,
        removedSnapshotSeqs: [UInt64], lastAliveBeforeOpen: Int64?
    ) {
        self.path = path
        self.options = options
        currentDurability = Mutex(options.durability)
        currentCacheMiB = Mutex(options.cacheMiB)
        self.writer = writer
        self.checkpointer = checkpointer
        self.lock = lock
        self.removedSnapshotSeqs = removedSnapshotSeqs
        self.lastAliveBeforeOpen = lastAliveBeforeOpen
    }

    /// Opens (creating when missing) the journal at `path` for appending; throws `inUse` while
    /// another open journal (of this process or another) appends to it.
    public static func open(path: String, options: JournalOptions = JournalOptions()) throws(JournalError) -> Journal {
        // Before SQLite touches the file: a second writer must not even run its start-up checks
        // against a file the first one is appending to. Released when this throws (deinit).
        let lock = try JournalFileLock(journalPath: path)
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path, readOnly: false)
        } catch {
            throw .cannotOpen(path: path, error)
        }
        try JournalSchema.prepare(db, path: path, readOnly: false)
        let state: WriterState
        var removed: [UInt64] = []
        var lastAlive: Int64?
        do {
            if try JournalSchema.role(db) == JournalSchema.archiveRole {
                throw JournalError.notAJournal(
                    path: path, reason: "it is an archive written by `brokerd journal compact`; serve the live journal "
                        + "and pass the archive as --archive to `brokerd journal verify`")
            }
            try JournalSchema.configure(db, readOnly: false, cacheMiB: options.cacheMiB)
            try db.execute("PRAGMA synchronous = \(options.durability.synchronous)")
            // Checkpoints run beside the commits (WALCheckpointer), not inside one.
            try db.execute("PRAGMA wal_autocheckpoint = 0")
            // The writer starts the log over; then it also cuts a log grown past this back.
            try db.execute("PRAGMA journal_size_limit = \(options.checkpoints.logSizeLimitBytes)")
            if let maxSizeBytes = options.maxSizeBytes {
                let pageSize = try db.scalarInt("PRAGMA page_size") ?? 4096
                try db.execute("PRAGMA max_page_count = \(max(1, maxSizeBytes / pageSize))")
            }
            let head = try ChainHead.read(db)
            try head.checkAnchor(db, path: path)
            // Every append is stamped at least this late, and the layers above do arithmetic on it.
            guard ISOTimestamp.formattableRange.contains(head.timestamp) else {
                throw JournalError.tampered(
                    path: path, reason: "its last row (seq \(head.seq)) has timestamp \(head.timestamp), outside the years "
                        + "0001–9999, which brokerd never writes; run `brokerd journal verify`")
            }
            // A snapshot past the last row is of a state this file does not hold (its last rows
            // were lost); kept, it would stand for the state at its seq once appends reach it.
            removed = try SnapshotStore.list(db).map(\.seq).filter { $0 > head.seq }
            if !removed.isEmpty { try db.execute("DELETE FROM snapshots WHERE seq > \(head.seq)") }
            // Only while no row came after it: rows appended by a build that does not record it
            // (a rollback) were written later, and their writer stopped at a time it does not tell.
            let aliveSeq = try db.scalarInt("SELECT value FROM meta WHERE key = '\(JournalSchema.MetaKey.aliveSeq)' AND typeof(value) = 'integer'")
            if aliveSeq == Int64(bitPattern: head.seq) {
                lastAlive = try db.scalarInt("SELECT value FROM meta WHERE key = '\(JournalSchema.MetaKey.aliveAt)' AND typeof(value) = 'integer'")
            }
            state = try WriterState(connection: db, lastSeq: head.seq, lastTimestamp: head.timestamp, lastHash: head.hash)
        } catch JournalError.malformed(let reason) {
            throw .tampered(path: path, reason: "it holds \(reason), which brokerd never writes; run `brokerd journal verify`")
        } catch let error as JournalError {
            throw error
        } catch let error as SQLiteError {
            throw error.isNotADatabase ? .notAJournal(path: path, reason: error.message) : .cannotOpen(path: path, error)
        } catch {
            throw .cannotOpen(path: path, SQLiteError(code: -1, message: "\(error)"))
        }
        let writer = GroupCommitWriter(state: state, maxBatchSize: options.maxBatchSize)
        let checkpointer = WALCheckpointer(path: path, writer: writer, settings: options.checkpoints)
        return Journal(
            path: path, options: options, writer: writer, checkpointer: checkpointer, lock: lock, removedSnapshotSeqs: removed,
            lastAliveBeforeOpen: lastAlive)
    }

    /// Bytes on disk of the journal file and of its write-ahead log, read off the file system.
    public var diskUsage: (main: Int64, wal: Int64) { JournalReader.diskUsage(ofJournalAt: path) }

    /// Bytes SQLite holds in this process (its page caches, up to `JournalOptions.cacheMiB` per
    /// connection, and statements): how much of the process's memory is the journal's.
    public static var sqliteMemoryBytes: Int64 { SQLiteConnection.memoryUsed }

    /// The last committed seq (0 for an empty journal).
    public var lastSeq: UInt64 { writer.head.seq }

    /// The timestamp of the last committed event, UTC microseconds (0 for an empty journal).
    public var lastTimestamp: Int64 { writer.head.timestamp }

    /// Why the journal stopped taking appends until it is opened again, or nil while it takes them.
    public var stoppedBy: JournalError? { writer.stoppedBy }

    /// Commits, events and failed commits since the journal was opened.
    public var statistics: JournalStatistics {
        let s = writer.statistics
        let checkpoints = checkpointer.statistics
        return JournalStatistics(
            commits: s.commits, events: s.events, failedCommits: s.failedCommits, lastCommitFailure: s.lastCommitFailure,
            backgroundCheckpoints: checkpoints.backgroundCheckpoints, writerCheckpoints: checkpoints.writerCheckpoints,
            failedCheckpoints: checkpoints.failures)
    }

    /// Appends one event; returns once it is committed under the configured durability.
    /// - Throws: `JournalError` (`diskFull`, `writeFailed`, `closed`…); then nothing was written.
    public func append(_ record: NewRecord) async throws -> JournalPosition {
        let appended = try await writer.append([record])
        return JournalPosition(seq: appended.firstSeq, timestamp: appended.timestamp)
    }

    /// Appends events that belong together: consecutive seqs, one commit, all or none.
    public func append(contentsOf records: [NewRecord]) async throws -> [JournalPosition] {
        guard !records.isEmpty else { return [] }
        return Self.positions(of: try await writer.append(records))
    }

    /// Appends events that record what happened before now (the connections a crash ended,
    /// journaled at the next start): they carry `timestamp`, or the last row's time if that is
    /// later, instead of their commit time, so the journal's times still never decrease.
    public func append(contentsOf records: [NewRecord], stampedAt timestamp: Int64) async throws -> [JournalPosition] {
        guard !records.isEmpty else { return [] }
        return Self.positions(of: try await writer.append(records, stampedAt: timestamp))
    }

    private static func positions(of appended: GroupCommitWriter.Appended) -> [JournalPosition] {
        (0..<appended.count).map { JournalPosition(seq: appended.firstSeq + UInt64($0), timestamp: appended.timestamp) }
    }

    /// Records in the file that its appender is alive now, with the last seq committed (a small
    /// write of its own, outside the rows and their chain). The next process to open the file reads
    /// the last such time as `lastAliveBeforeOpen`: after a crash, when this one was last known alive.
    public func recordAlive() async throws {
        let now = WallClock.microsecondsNow()
        try await writer.perform { [writer] db in
            let upsert = try db.prepare(
                "INSERT INTO meta(key, value) VALUES ('\(JournalSchema.MetaKey.aliveAt)', ?1), ('\(JournalSchema.MetaKey.aliveSeq)', ?2) "
                    + "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                persistent: false)
            try upsert.bind(1, now)
            // Jobs run between commits on the writer thread: the head is the file's last row.
            try upsert.bind(2, Int64(bitPattern: writer.head.seq))
            try upsert.run()
        }
    }

    /// Stores a serialized projection taken at `seq` and prunes the oldest beyond `retainedSnapshots`.
    public func writeSnapshot(seq: UInt64, format: Int64, data: [UInt8]) async throws {
        let retained = options.retainedSnapshots
        let timestamp = WallClock.microsecondsNow()
        try await writer.perform { db in
            try SnapshotStore.write(db, seq: seq, timestamp: timestamp, format: format, data: data, retained: retained)
        }
    }

    /// How hard commits wait for the disk now.
    public var durability: Durability { currentDurability.withLock { $0 } }

    /// Makes the commits after the one in progress wait for the disk as `durability` says (the
    /// writer's `PRAGMA synchronous`, set between two commits): a reload of `durability`.
    public func setDurability(_ durability: Durability) async throws {
        try await writer.perform { db in try db.execute("PRAGMA synchronous = \(durability.synchronous)") }
        currentDurability.withLock { $0 = durability }
    }

    /// The page cache each connection may fill now, in MiB.
    public var cacheMiB: Int { currentCacheMiB.withLock { $0 } }

    /// Gives the writer's connection a page cache of `mib` from its next commit on (a smaller one
    /// frees what it holds beyond), and each reader opened from then on: a reload of `journal_cache_mib`.
    public func setCacheMiB(_ mib: Int) async throws {
        try await writer.perform { db in try JournalSchema.setCacheSize(db, mib: mib) }
        currentCacheMiB.withLock { $0 = mib }
    }

    /// The writer connection's `PRAGMA synchronous`: 1 (NORMAL) or 2 (FULL).
    func writerSynchronous() async throws -> Int64 {
        let value = Mutex<Int64>(0)
        try await writer.perform { db in
            let synchronous = try db.scalarInt("PRAGMA synchronous") ?? 0
            value.withLock { $0 = synchronous }
        }
        return value.withLock { $0 }
    }

    /// The size SQLite's page cache of the writer's connection may grow to, in KiB.
    func writerPageCacheKiB() async throws -> Int64 {
        let size = Mutex<Int64>(0)
        try await writer.perform { db in
            let pages = try db.scalarInt("PRAGMA cache_size") ?? 0
            size.withLock { $0 = -pages }
        }
        return size.withLock { $0 }
    }

    /// Opens a reader on its own read-only connection, with the journal's page cache size now.
    public func reader() throws(JournalError) -> JournalReader {
        try JournalReader(path: path, cacheMiB: cacheMiB)
    }

    /// Commits what is queued and closes the file; appends after this throw `closed`.
    public func close() {
        // The writer's connection closes last, so SQLite's final checkpoint removes the log.
        checkpointer.stop()
        writer.close()
        lock.release()
    }
}

/// Counters of a journal's writer since it was opened.
public struct JournalStatistics: Sendable, Hashable {
    public var commits: UInt64
    public var events: UInt64
    public var failedCommits: UInt64
    /// The latest commit's failure (appends refused with it); nil once a commit has succeeded since.
    public var lastCommitFailure: CommitFailure? = nil
    /// Checkpoints run beside the writer, and those the writer finished between batches.
    public var backgroundCheckpoints: UInt64 = 0
    public var writerCheckpoints: UInt64 = 0
    public var failedCheckpoints: UInt64 = 0

    /// Mean events per group commit.
    public var meanBatchSize: Double { commits == 0 ? 0 : Double(events) / Double(commits) }
}

/// A commit that failed: when (UTC microseconds) and the error its appends were refused with.
public struct CommitFailure: Sendable, Hashable {
    public var timestamp: Int64
    public var reason: String
}

/// The last row of the chain, or the base this file chains to when it has no rows.
struct ChainHead {
    var seq: UInt64
    var timestamp: Int64
    var hash: [UInt8]

    static func read(_ db: SQLiteConnection) throws -> ChainHead {
        let last = try db.prepare("SELECT seq, ts, hash FROM events ORDER BY seq DESC LIMIT 1", persistent: false)
        if try last.step() {
            return ChainHead(seq: try last.seq(0) { "a row with seq \($0)" }, timestamp: last.int64(1), hash: last.bytes(2))
        }
        let base = try ChainBase.read(db)
        return ChainHead(seq: base.seq, timestamp: base.timestamp, hash: base.hash)
    }

    /// Refuses a file whose last row is not the one the last commit recorded: rows were cut off,
    /// added, or the last one edited (and re-hashed) behind the journal's back, and appending
    /// would bury the evidence.
    func checkAnchor(_ db: SQLiteConnection, path: String) throws {
        let anchor = try HeadAnchor.read(db)
        guard let anchoredSeq = anchor.seq else { return }
        guard anchoredSeq == seq else {
            throw JournalError.tampered(
                path: path,
                reason: "its last row is seq \(seq) but the last commit recorded seq \(anchoredSeq); "
                    + "run `brokerd journal verify` to find the first bad seq")
        }
        if let anchoredHash = anchor.hash, anchoredHash != hash {
            throw JournalError.tampered(
                path: path,
                reason: "its last row (seq \(seq)) differs from the one the last commit recorded; "
                    + "run `brokerd journal verify` to find the first bad seq")
        }
    }
}

/// The seq and hash of the last row the last commit recorded in the meta table, in the commit's
/// own transaction: what the last row must be. Either is nil in a file without it.
struct HeadAnchor {
    var seq: UInt64?
    var hash: [UInt8]?

    /// - Throws: `JournalError.malformed` for a head_seq brokerd never writes.
    static func read(_ db: SQLiteConnection) throws -> HeadAnchor {
        let query = try db.prepare("SELECT key, value FROM meta WHERE key IN (?1, ?2)", persistent: false)
        try query.bind(1, JournalSchema.MetaKey.headSeq)
        try query.bind(2, JournalSchema.MetaKey.headHash)
        var anchor = HeadAnchor()
        while try query.step() {
            if query.string(0) == JournalSchema.MetaKey.headSeq {
                anchor.seq = try query.seq(1) { "head_seq \($0) in its meta table" }
            } else {
                anchor.hash = query.bytes(1)
            }
        }
        return anchor
    }
}

/// Where this file's chain starts: the seq, hash and time of the row its first row chains to.
///
/// Seq 0 with the genesis hash for a journal that was never compacted; after `JournalCompactor`
/// moved older rows to an archive, the last archived row, so the file still verifies on its own.
public struct ChainBase: Sendable, Hashable {
    /// Seq of the row before this file's first row (0 when nothing was archived).
    public var seq: UInt64
    /// Hash of that row (32 zero bytes for the genesis).
    public var hash: [UInt8]
    /// Timestamp of that row, UTC microseconds (0 when nothing was archived).
    public var timestamp: Int64

    /// The base of a journal that starts at seq 1.
    public static let genesis = ChainBase(seq: 0, hash: JournalSchema.genesisHash, timestamp: 0)

    /// True when older rows were archived, i.e. this file does not start at seq 1.
    public var isCompacted: Bool { seq > 0 }

    static func read(_ db: SQLiteConnection) throws -> ChainBase {
        let query = try db.prepare("SELECT key, value FROM meta WHERE key IN (?1, ?2, ?3)", persistent: false)
        try query.bind(1, JournalSchema.MetaKey.baseSeq)
        try query.bind(2, JournalSchema.MetaKey.baseHash)
        try query.bind(3, JournalSchema.MetaKey.baseTimestamp)
        var base = ChainBase.genesis
        while try query.step() {
            switch query.string(0) {
            case JournalSchema.MetaKey.baseSeq: base.seq = try query.seq(1) { "base_seq \($0) in its meta table" }
            case JournalSchema.MetaKey.baseHash: base.hash = query.bytes(1)
            default: base.timestamp = query.int64(1)
            }
        }
        return base
    }

    /// Records this base in the file's meta table (inside the caller's transaction).
    func write(_ db: SQLiteConnection) throws(SQLiteError) {
        let upsert = try db.prepare(
            "INSERT INTO meta(key, value) VALUES (?1, ?2), (?3, ?4), (?5, ?6) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            persistent: false)
        try upsert.bind(1, JournalSchema.MetaKey.baseSeq)
        try upsert.bind(2, Int64(seq))
        try upsert.bind(3, JournalSchema.MetaKey.baseHash)
        try upsert.bind(4, bytes: hash)
        try upsert.bind(5, JournalSchema.MetaKey.baseTimestamp)
        try upsert.bind(6, timestamp)
        try upsert.run()
    }
}
