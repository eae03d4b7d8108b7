import ArgumentParser
import Broker
import Foundation
import Journal

/// `brokerd journal stats`: what a journal file holds, how big it is, and its snapshots.
struct JournalStatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Events by kind, seq range and time span, file size (with WAL), snapshots.")

    @Option(help: "The journal (or archive) file.")
    var journal: String = JournalCLI.defaultJournal

    @Flag(help: "Print JSON (sorted keys) instead of text.")
    var json = false

    func run() throws {
        let summary = try JournalCLI.run { () throws -> JournalSummary in
            let reader = try JournalCLI.openReader(journal)
            return JournalSummary(path: journal, statistics: try reader.statistics(), disk: reader.diskUsage())
        }
        if json {
            print(String(decoding: try JournalCLI.jsonEncoder(pretty: true).encode(summary), as: UTF8.self))
        } else {
            print(summary.text, terminator: "")
        }
    }
}

/// The stats report of one journal file.
struct JournalSummary: Encodable {
    struct Size: Encodable {
        let main: Int64
        let wal: Int64
        let total: Int64
    }

    struct Snapshot: Encodable {
        let seq: UInt64
        let time: String
        let size: Int
        let format: Int64
        let checksumOK: Bool

        enum CodingKeys: String, CodingKey {
            case seq, time, size, format
            case checksumOK = "checksum_ok"
        }
    }

    let path: String
    let role: String
    let rows: UInt64
    let firstSeq: UInt64?
    let lastSeq: UInt64?
    let firstTime: String?
    let lastTime: String?
    let spanSeconds: Double?
    /// Rows up to this seq were archived by compaction (0 when none were).
    let baseSeq: UInt64
    let size: Size
    let eventsByKind: [String: UInt64]
    let snapshots: [Snapshot]
    /// Snapshot rows with a negative seq: brokerd never writes one, and nothing loads them.
    let invalidSnapshotSeqs: [Int64]

    enum CodingKeys: String, CodingKey {
        case path, role, rows, size, snapshots
        case firstSeq = "first_seq"
        case lastSeq = "last_seq"
        case firstTime = "first_time"
        case lastTime = "last_time"
        case spanSeconds = "span_seconds"
        case baseSeq = "base_seq"
        case eventsByKind = "events_by_kind"
        case invalidSnapshotSeqs = "invalid_snapshot_seqs"
    }

    init(path: String, statistics: JournalFileStatistics, disk: (main: Int64, wal: Int64)) {
        self.path = path
        role = statistics.isArchive ? "archive" : "journal"
        rows = statistics.rowCount
        firstSeq = statistics.first?.seq
        lastSeq = statistics.last?.seq
        firstTime = statistics.first.map { ISOTimestamp.format(microseconds: $0.timestamp) }
        lastTime = statistics.last.map { ISOTimestamp.format(microseconds: $0.timestamp) }
        if let first = statistics.first, let last = statistics.last {
            // In Double: a damaged file's timestamps may be any two Int64s, whose difference overflows.
            spanSeconds = (Double(last.timestamp) - Double(first.timestamp)) / 1_000_000
        } else {
            spanSeconds = nil
        }
        baseSeq = statistics.base.seq
        size = Size(main: disk.main, wal: disk.wal, total: disk.main + disk.wal)
        eventsByKind = Dictionary(uniqueKeysWithValues: statistics.countsByKind.map { kind, count in
            (EventKind(rawValue: kind)?.name ?? "unknown_\(kind)", count)
        })
        snapshots = statistics.snapshots.map {
            Snapshot(
                seq: $0.info.seq, time: ISOTimestamp.format(microseconds: $0.info.timestamp), size: $0.info.size,
                format: $0.info.format, checksumOK: $0.checksumOK)
        }
        invalidSnapshotSeqs = statistics.invalidSnapshotSeqs
    }

    var text: String {
        var out = "\(path) (\(role))\n"
        if let firstSeq, let lastSeq, let firstTime, let lastTime, let spanSeconds {
            out += "  rows        \(rows), seqs \(firstSeq)...\(lastSeq)\n"
            out += "  time span   \(firstTime) ... \(lastTime) (\(Self.duration(spanSeconds)))\n"
        } else {
            out += "  rows        0\n"
        }
        if baseSeq > 0 { out += "  compacted   rows up to seq \(baseSeq) are archived; the chain starts after it\n" }
        out += "  size        \(size.total) bytes (main \(size.main) + WAL \(size.wal))\n"
        out += "\nEvents by kind:\n"
        let width = eventsByKind.keys.map(\.count).max() ?? 0
        for (kind, count) in eventsByKind.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            out += "  \(kind.padding(toLength: width, withPad: " ", startingAt: 0))  \(count)\n"
        }
        out += "\nSnapshots: \(snapshots.count)\n"
        for snapshot in snapshots {
            out += "  seq \(snapshot.seq)  \(snapshot.time)  \(snapshot.size) bytes  format \(snapshot.format)  "
                + (snapshot.checksumOK ? "checksum ok" : "CHECKSUM MISMATCH") + "\n"
        }
        for seq in invalidSnapshotSeqs {
            out += "  seq \(seq)  INVALID SEQ: brokerd never writes one; ignored\n"
        }
        return out
    }

    private static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds)
        if whole >= 3_600 { return "\(whole / 3_600)h \(whole / 60 % 60)m \(whole % 60)s" }
        if whole >= 60 { return "\(whole / 60)m \(whole % 60)s" }
        return String(format: "%.3fs", seconds)
    }
}
