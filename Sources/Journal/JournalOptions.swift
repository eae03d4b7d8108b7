/// How hard a commit waits for the disk.
public enum Durability: String, Sendable, CaseIterable {
    /// synchronous=NORMAL: survives a process crash; the last commits may be lost on power loss.
    case normal
    /// synchronous=FULL: every commit is on stable storage before it is acknowledged.
    case full
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
