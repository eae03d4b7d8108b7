import Dispatch
import Journal
import Logging
import Synchronization

/// What start-up found: the projection, where it came from and how much was replayed.
@dynamicMemberLookup
public struct RecoveredProjection: Sendable {
    public var projection: Projection
    public var summary: RecoverySummary

    public subscript<T>(dynamicMember keyPath: KeyPath<RecoverySummary, T>) -> T { summary[keyPath: keyPath] }
}

/// Where a recovered projection came from and how much was replayed: what a store keeps of its
/// start-up (a kept copy of the projection would live on beside the store's own, changing, one).
public struct RecoverySummary: Sendable {
    /// The snapshot the projection started from; nil for a full replay.
    public var snapshotSeq: UInt64?
    /// When that snapshot was written (UTC microseconds): a shutdown writes one last.
    public var snapshotTimestamp: Int64?
    /// Snapshots that were newer but could not be used, with the reason.
    public var skippedSnapshots: [(seq: UInt64, reason: String)]
    /// Events applied after the snapshot.
    public var replayedEvents: UInt64
}

/// Rebuilds the projection from a journal: the newest snapshot that checks out, then the tail.
///
/// A snapshot that is corrupt, undecodable or of a format this build cannot read is skipped with a
/// warning and the next older one (or a full replay) is used: a snapshot is a cache, the journal is
/// the truth.
public struct ProjectionLoader: Sendable {
    public let logger: Logger

    public init(logger: Logger) {
        self.logger = logger
    }

    /// The state after every event up to `untilSeq` (or the end of the journal); with
    /// `useSnapshots: false` every event is replayed from the start (audits, tests).
    ///
    /// A compacted journal starts after its chain base: its state is rebuilt from a snapshot at or
    /// after the base, or, given the `archives` that hold the older rows (oldest first), from them.
    /// - Throws: `UnlinkedFiles` when the archives and the journal are not one chain (one missing
    ///   between two, out of order, of another journal); `MissingHistory` when the rows the state
    ///   needs are in none of the files and no snapshot stands in for them; `BrokenChain` when a row
    ///   replayed does not chain to the one before it (edited or damaged).
    public func load(
        from reader: JournalReader, archives: [JournalReader] = [], untilSeq: UInt64? = nil, useSnapshots: Bool = true
    ) throws -> RecoveredProjection {
        if !archives.isEmpty { try JournalReader.requireLinked(archives + [reader]) }
        // The end is fixed before any row is read: a broker serving the file appends meanwhile, and
        // rows committed after the last one read would look like a hole in the history.
        let last = try reader.last()?.seq ?? reader.chainBase().seq
        let end = min(untilSeq ?? last, last)
        var skipped: [(seq: UInt64, reason: String)] = []
        var start: (projection: Projection, snapshot: SnapshotInfo)?
        let candidates = useSnapshots ? try reader.snapshots() : []
        if useSnapshots {
            for seq in try reader.invalidSnapshotSeqs() {
                logger.warning("skipping snapshot", metadata: ["seq": .stringConvertible(seq), "reason": "a negative seq, which brokerd never writes"])
            }
        }
        for snapshot in candidates where snapshot.seq <= (untilSeq ?? .max) {
            do {
                // State the journal never reached (its last rows lost or cut off): served from, it
                // would have the broker acknowledge appends at seqs its state is already past. A
                // broker serving the file may have written it since `last` was read: asked again.
                if snapshot.seq > last {
                    let current = try reader.last()?.seq ?? 0
                    if current < snapshot.seq {
                        throw SnapshotRejected(reason: "it is at seq \(snapshot.seq), past the journal's last row \(current)")
                    }
                }
                let projection = try Self.projection(from: snapshot, data: reader.snapshotData(seq: snapshot.seq))
                start = (projection, snapshot)
                break
            } catch {
                logger.warning(
                    "skipping snapshot", metadata: ["seq": .stringConvertible(snapshot.seq), "reason": "\(error)"])
                skipped.append((snapshot.seq, "\(error)"))
            }
        }
        var projection = start?.projection ?? Projection()
        var replayed: UInt64 = 0
        for file in archives + [reader] {
            if projection.lastSeq >= end { break }
            let cursor = try file.records(JournalQuery(fromSeq: projection.lastSeq + 1, toSeq: end))
            var rows: [JournalRecord] = []
            rows.reserveCapacity(Self.rowsPerBatch)
            var expected = projection.lastSeq + 1
            var previousHash: [UInt8]?
            var hole: MissingHistory?
            var readAll = false
            while !readAll {
                while rows.count < Self.rowsPerBatch, let row = try cursor.next() {
                    // Rows must follow on seq by seq: a hole means compacted (archived) or deleted
                    // rows. The rows before it are replayed first, so the first problem in seq order
                    // is the one reported.
                    guard row.seq == expected else {
                        hole = MissingHistory(path: file.path, missing: expected...(row.seq - 1), compactedBase: try reader.chainBase().seq)
                        break
                    }
                    expected += 1
                    rows.append(row)
                }
                readAll = hole != nil || rows.count < Self.rowsPerBatch
                if let last = rows.last {
                    if previousHash == nil {
                        guard let stored = try file.storedHash(atSeq: projection.lastSeq) else {
                            throw MissingHistory(
                                path: file.path, missing: projection.lastSeq...projection.lastSeq, compactedBase: try reader.chainBase().seq)
                        }
                        previousHash = stored
                    }
                    try Self.apply(rows, of: file, chainingTo: previousHash ?? [], to: &projection)
                    replayed += UInt64(rows.count)
                    previousHash = last.hash
                    rows.removeAll(keepingCapacity: true)
                }
                if let hole { throw hole }
            }
            // The last row committed is vouched for by the head anchor, not by a row after it: one
            // edited and re-hashed would chain. Only while no broker has appended since.
            if file === reader, let lastHash = previousHash, let anchor = try reader.headAnchor(), anchor.seq == projection.lastSeq,
                anchor.hash != lastHash
            {
                throw BrokenChain(seq: anchor.seq, path: reader.path, problem: BrokenChain.notCommitted)
            }
        }
        // Asked for the end and replayed to the file's last row, which is not the last one
        // committed: rows were cut off the end, and the state is not the journal's. The anchor is
        // read before the rows are asked again, so rows a serving broker committed meanwhile count.
        if untilSeq.map({ $0 > last }) ?? true, projection.lastSeq == last, let anchor = try reader.headAnchor(), anchor.seq > last {
            let current = try reader.last()?.seq ?? last
            if current < anchor.seq {
                throw BrokenChain(seq: current + 1, path: reader.path, problem: BrokenChain.cutOff(through: anchor.seq))
            }
        }
        // Short of the state asked for (or the journal's last row): the rows in between are in no
        // file given, e.g. asked for a state before the first row the first file holds.
        let base = try reader.chainBase().seq
        if projection.lastSeq < end {
            // The loop stops at the first hole, so the rows missing are those before the first file's.
            let first = archives.first ?? reader
            let upper = max(projection.lastSeq + 1, min(end, try first.chainBase().seq))
            throw MissingHistory(path: first.path, missing: (projection.lastSeq + 1)...upper, compactedBase: base)
        }
        return RecoveredProjection(
            projection: projection, summary: RecoverySummary(
                snapshotSeq: start?.snapshot.seq, snapshotTimestamp: start?.snapshot.timestamp, skippedSnapshots: skipped,
                replayedEvents: replayed))
    }

    /// Rows replayed at a time: applied on one thread while another checks their hashes.
    static let rowsPerBatch = 4_096

    /// Applies `rows` (consecutive, the first right after `projection.lastSeq`) to `projection`
    /// while another thread checks that they chain, the first to `previousHash`. Hashing a row
    /// costs about as much as decoding and applying it: done one after the other, a full replay
    /// ran at 0.7 M instead of 1.15 M rows/s. A state is only given if every row chains.
    /// - Throws: `BrokenChain` or `UnreadableEvent` for the first row that breaks the chain or
    ///   cannot be decoded (the chain first, for a row that does both: it was edited).
    private static func apply(
        _ rows: [JournalRecord], of file: JournalReader, chainingTo previousHash: [UInt8], to projection: inout Projection
    ) throws {
        let check = ChainCheckOutcome()
        let checked = DispatchGroup()
        DispatchQueue.global().async(group: checked) {
            var links = ChainLinkCheck()
            check.brokenSeq = links.firstBrokenSeq(in: rows[...], after: previousHash)
        }
        var unreadable: UnreadableEvent?
        for row in rows {
            do {
                let event = try EventCodec.decode(kind: row.kind, payload: row.payload)
                projection.apply(RecordedEvent(seq: row.seq, timestamp: row.timestamp, event: event))
            } catch {
                unreadable = UnreadableEvent(seq: row.seq, reason: "\(error)")
                break
            }
        }
        checked.wait()
        let brokenSeq = check.brokenSeq
        if let brokenSeq, brokenSeq <= unreadable?.seq ?? .max { throw BrokenChain(seq: brokenSeq, path: file.path) }
        if let unreadable { throw unreadable }
    }

    /// The state a stored snapshot holds, if start-up can recover from it: a format this build reads
    /// (every one in `Projection.readableFormats`), bytes that decode, and state at the snapshot's own seq.
    /// - Throws: why the snapshot cannot be used.
    public static func projection(from snapshot: SnapshotInfo, data: [UInt8]) throws -> Projection {
        let readable = Projection.readableFormats
        guard let format = UInt8(exactly: snapshot.format), readable.contains(format) else {
            let formats = "this build reads formats \(readable.lowerBound)...\(readable.upperBound)"
            throw SnapshotRejected(
                reason: snapshot.format > Int64(readable.upperBound)
                    ? "format \(snapshot.format) is newer than \(formats): written by a newer brokerd"
                    : "format \(snapshot.format) is unknown (\(formats))")
        }
        let projection = try Projection(serialized: data)
        guard projection.lastSeq == snapshot.seq else {
            throw SnapshotRejected(reason: "it holds state at seq \(projection.lastSeq), not \(snapshot.seq)")
        }
        return projection
    }
}

/// Rows a state needs are not in the journal: archived by compaction, or deleted.
public struct MissingHistory: Error, CustomStringConvertible {
    /// The file where the rows were expected.
    public let path: String
    /// The seqs that are missing.
    public let missing: ClosedRange<UInt64>
    /// The live journal's chain base: rows up to it were archived by compaction.
    public let compactedBase: UInt64

    public var description: String {
        let range = missing.lowerBound == missing.upperBound
            ? "seq \(missing.lowerBound) is" : "seqs \(missing.lowerBound)...\(missing.upperBound) are"
        if missing.upperBound <= compactedBase {
            return "\(range) not in \(path): compaction archived the rows up to seq \(compactedBase), and no usable "
                + "snapshot in the journal (at or before the seq asked for) stands in for them; pass the archives with --archive "
                + "(journal replay, events, verify), or for start-up store a snapshot rebuilt from them: "
                + "brokerd journal snapshot --journal JOURNAL --archive ARCHIVE…"
        }
        return "\(range) missing from \(path); run `brokerd journal verify`"
    }
}

/// A journal event this build cannot decode: the journal is from a newer brokerd or damaged.
public struct UnreadableEvent: Error, CustomStringConvertible {
    public let seq: UInt64
    public let reason: String
    public var description: String { "event at seq \(seq) cannot be decoded (\(reason)); run `brokerd journal verify`" }
}

/// What the thread checking a batch's hashes found, for the thread applying it.
private final class ChainCheckOutcome: Sendable {
    private let state = Mutex<UInt64?>(nil)

    /// The first row of the batch that does not chain; nil when all do (or not checked yet).
    var brokenSeq: UInt64? {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

struct SnapshotRejected: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}
