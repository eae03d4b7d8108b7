/// How hard a commit waits for the disk.
public enum Durability: String, Sendable, CaseIterable {
    /// synchronous=NORMAL: survives a process crash; the last commits may be lost on power loss.
    case normal
    /// synchronous=FULL: every commit is on stable storage before it is acknowledged.
    case full

    /// The value of SQLite's `PRAGMA synchronous` for it.
    var synchronous: String { self == .full ? "FULL" : "NORMAL" }
}

/// Settings of an open journal.
public struct JournalOptions: Sendable {
    public var durability: Durability
    /// Most events one group commit takes; larger bursts are split across commits.
    public var maxBatchSize: Int
    /// Cap on the database size; appends beyond it fail as if the disk were full. nil = no cap.
    public var maxSizeBytes: Int64?
    /// How many snapshots to keep; older ones are pruned when a new one is written.
    public var retainedSnapshots: Int
    /// How the write-ahead log is copied into the file (see `WALCheckpointer`).
    public var checkpoints = CheckpointSettings()
    /// SQLite's page cache of the writer's connection and of each reader's (`reader()`), in MiB:
    /// it fills as rows are written and read, and stays that size while the connection is open.
    public var cacheMiB = JournalOptions.defaultCacheMiB

    /// 64 MiB: replays and reads of recent rows stay in memory.
    public static let defaultCacheMiB = 64

    public init(
        durability: Durability = .normal,
        maxBatchSize: Int = 8_192,
        maxSizeBytes: Int64? = nil,
        retainedSnapshots: Int = 3
    ) {
        self.durability = durability
        self.maxBatchSize = maxBatchSize
        self.maxSizeBytes = maxSizeBytes
        self.retainedSnapshots = retainedSnapshots
    }
}

/// How an open journal copies its write-ahead log into the file: on a thread of its own, beside
/// the commits (see `WALCheckpointer`).
public struct CheckpointSettings: Sendable {
    /// How often the background checkpoint runs while anything was committed.
    public var interval: Duration
    /// Log length (4 KiB pages) at which the writer finishes a checkpoint and the log starts over.
    public var restartFrames: Int
    /// Size the log file is cut back to when it starts over (SQLite's `journal_size_limit`). A
    /// reader holding one transaction for long (`brokerd journal events` piped into a pager) keeps
    /// the log from starting over, and it grows meanwhile; without a limit the file kept its
    /// largest size until the journal was closed.
    public var logSizeLimitBytes: Int64

    public init(interval: Duration = .milliseconds(250), restartFrames: Int = 4_000, logSizeLimitBytes: Int64? = nil) {
        self.interval = interval
        self.restartFrames = max(1, restartFrames)
        // Half as much again as the log's usual length, so the usual log is never cut and regrown.
        self.logSizeLimitBytes = max(0, logSizeLimitBytes ?? Int64(self.restartFrames) * 4_096 * 3 / 2)
    }
}
