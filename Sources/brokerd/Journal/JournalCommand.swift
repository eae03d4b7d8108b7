import ArgumentParser

/// `brokerd journal …`: audit and maintain a journal file, also while a broker serves it.
///
/// Every subcommand but `snapshot` and `compact` opens the journal read-only. Exit codes: 0 done,
/// 1 `verify` found a broken chain (rows it cannot read included), 2 refused or failed (bad input,
/// missing file, not a journal, a refused or interrupted compaction) with one line on stderr saying why.
struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal", abstract: "Audit and maintain a journal file.",
        subcommands: [
            JournalReplayCommand.self, JournalEventsCommand.self, JournalVerifyCommand.self, JournalStatsCommand.self,
            JournalSnapshotCommand.self, JournalCompactCommand.self,
        ])
}
