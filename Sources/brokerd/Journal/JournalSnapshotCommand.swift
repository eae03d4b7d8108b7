import ArgumentParser
import Broker
import Journal

/// `brokerd journal snapshot`: rebuild the state at the journal's head and store it as a snapshot.
struct JournalSnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Store a snapshot of the state at the last seq in the journal's snapshots table.",
        discussion: """
            Safe while a broker serves the same file: the state is rebuilt on a read-only connection \
            and the snapshot is one small write that SQLite serializes with the broker's commits \
            (each side waits for the other's lock; this one up to 30 s). The newest 3 snapshots are \
            kept, as the broker keeps them. A compacted journal whose snapshots are all unusable needs \
            the rows compaction archived: pass the archives with --archive, oldest first.
            """)

    @Option(help: "The journal file.")
    var journal: String = JournalCLI.defaultJournal

    @Option(name: .customLong("archive"), help: "Archives holding rows compacted out of the journal (repeatable, oldest first).")
    var archives: [String] = []

    func run() throws {
        let (seq, size, stored) = try JournalCLI.run { () throws -> (UInt64, Int, [SnapshotInfo]) in
            let reader = try JournalCLI.openReader(journal)
            guard try !reader.isArchive() else { throw JournalInputError("\(journal) is an archive; snapshot the live journal") }
            let archiveReaders = try archives.map(JournalCLI.openReader)
            let projection = try ProjectionLoader(logger: JournalCLI.logger).load(from: reader, archives: archiveReaders).projection
            guard projection.lastSeq > 0 else { throw JournalInputError("\(journal) has no events: nothing to snapshot") }
            let data = projection.serialized()
            let stored = try Journal.writeSnapshot(
                journalAt: journal, seq: projection.lastSeq, format: Int64(Projection.formatVersion), data: data)
            return (projection.lastSeq, data.count, stored)
        }
        print("snapshot at seq \(seq) (\(size) bytes, format \(Projection.formatVersion)) stored in the snapshots table of \(journal)")
        if !stored.contains(where: { $0.seq == seq }) {
            print("note: it was pruned at once: the journal keeps its \(stored.count) newest snapshots, all later than seq \(seq)")
        }
        print("snapshots now: " + stored.map { "seq \($0.seq)" }.joined(separator: ", "))
    }
}
