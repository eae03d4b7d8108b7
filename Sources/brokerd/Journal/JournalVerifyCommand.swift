import ArgumentParser
import Journal

/// `brokerd journal verify`: walk the hash chain of the journal (after its archives, when given).
struct JournalVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Walk the hash chain; exit 0 when it holds, 1 naming the first bad seq.",
        discussion: """
            A compacted journal verifies on its own from the chain base it records (the last archived \
            row). With --archive, the archived rows are checked too, as one chain with the journal. \
            Rows that cannot be read (a damaged page) break the chain at the first seq not read: exit 1. \
            Exit 2 when a file cannot be opened as a journal at all.
            """)

    @Option(help: "The journal file.")
    var journal: String = JournalCLI.defaultJournal

    @Option(name: .customLong("archive"), help: "An archive written by `journal compact` (repeatable, oldest first).")
    var archives: [String] = []

    func run() throws {
        let report = try JournalCLI.run { () throws -> VerificationReport in
            let reader = try JournalCLI.openReader(journal)
            let archives = try archives.map(JournalCLI.openReader)
            // Files out of order are a mistake of the command line (exit 2), not a broken chain.
            try JournalReader.requireOrdered(archives + [reader])
            return try reader.verify(after: archives)
        }
        if let bad = report.firstBadSeq {
            print("FAIL: first bad seq \(bad) in \(report.path): \(report.problem ?? "")")
            throw ExitCode(1)
        }
        let files = archives.isEmpty ? "" : " across \(archives.count + 1) files"
        let range = report.lastSeq > report.baseSeq ? ", seqs \(report.baseSeq + 1)...\(report.lastSeq)" : ""
        print("OK: \(report.checkedRows) rows verified\(files)\(range), last seq \(report.lastSeq)")
        if report.baseSeq > 0 {
            print("note: the chain starts after seq \(report.baseSeq) (archived rows"
                + (archives.isEmpty ? " not checked: pass --archive)" : " before it are in none of these files)"))
        }
    }
}
