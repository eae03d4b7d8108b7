import ArgumentParser
import Broker
import Journal
import Publishers

/// `brokerd journal compact`: move old rows into an archive file, keeping the hash chain whole.
struct JournalCompactCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compact",
        abstract: "Move the rows before a seq into an archive file; the hash chain survives.",
        discussion: """
            Needs a snapshot at seq (before-seq - 1) or later in the journal, so start-up never needs \
            the archived rows (take one with `journal snapshot`), and keeps the rows of the last 15 \
            minutes before the journal's last event, from which a restart rebuilds the K-line bars \
            being built. The archive is created, or appended \
            to when it ends exactly where the journal begins; every row is copied into it and synced \
            first, then the rows are deleted from the journal in transactions of 10,000 rows, each of \
            which leaves both files consistent. If that is interrupted, run the same command again: it \
            finds the rows in both files and finishes. Works while a broker serves the journal: the \
            lock is left free for 150 ms after each transaction, so its appends wait for one of them \
            at most. The journal file does not shrink (SQLite reuses the freed pages).
            """)

    @Option(help: "The journal file.")
    var journal: String = JournalCLI.defaultJournal

    @Option(name: .customLong("before-seq"), parsing: .unconditional, help: "Archive every row with a seq below this.")
    var beforeSeq: String?

    @Option(help: "The archive file (created when missing).")
    var archive: String?

    @Flag(
        name: .customLong("allow-recent"),
        help: "Archive rows of the last 15 minutes too; a restart soon after rebuilds the K-line bars being built from part of their ticks.")
    var allowRecent = false

    func run() throws {
        let report = try JournalCLI.run { () throws -> CompactionReport in
            guard let beforeSeq else { throw JournalInputError("--before-seq N is required: rows with seq < N are archived") }
            guard let archive else { throw JournalInputError("--archive FILE is required: where the archived rows go") }
            let seq = try JournalCLI.seq(beforeSeq, option: "--before-seq")
            try JournalCLI.requireFile(journal)
            if !allowRecent { try Self.requireBarWindowKept(journal: journal, beforeSeq: seq) }
            let compactor = JournalCompactor(journalPath: journal, archivePath: archive) { info, data in
                Self.problem(snapshot: info, data: data)
            }
            return try compactor.compact(beforeSeq: seq)
        }
        if report.alreadyDone {
            print("nothing to do: \(journal) already starts after seq \(report.base.seq), which \(report.archivePath) ends with")
            return
        }
        let first = report.base.seq - report.removedRows + 1
        print("archived seqs \(first)...\(report.base.seq) to \(report.archivePath) (\(report.copiedRows) rows copied"
            + (report.finishedInterruptedRun ? ", the rest were there from an interrupted run" : "") + ")")
        print("\(journal) now starts after seq \(report.base.seq) (chain base hash \(Hex.string(report.base.hash.prefix(8)))…); "
            + "start-up recovers from the snapshot at seq \(report.snapshotSeq)")
    }

    /// Refuses to archive rows a restart reads to rebuild the K-line bars being built
    /// (`KlinePublisher.recoveryWindow` of the periods the broker builds, before the journal's last
    /// row): those bars would be rebuilt from part of their ticks, and their closes journaled wrong.
    static func requireBarWindowKept(journal: String, beforeSeq: UInt64) throws {
        let reader = try JournalCLI.openReader(journal)
        let window = KlinePublisher.recoveryWindow(periods: KlinePublisher.defaultPeriods)
        guard let last = try reader.last(), let first = try reader.firstSeq(atOrAfter: last.timestamp - window), beforeSeq > first
        else { return }
        throw JournalInputError(
            "--before-seq \(beforeSeq) would archive rows of the last \(window / 60_000_000) minutes before the journal's last "
                + "event (seq \(first) on), from which a restart rebuilds the K-line bars being built; use --before-seq \(first) or lower, or --allow-recent")
    }

    /// Why start-up could not recover from this snapshot, or nil when it can.
    static func problem(snapshot: SnapshotInfo, data: [UInt8]) -> String? {
        do {
            _ = try ProjectionLoader.projection(from: snapshot, data: data)
            return nil
        } catch {
            return "\(error)"
        }
    }
}
