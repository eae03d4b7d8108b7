import ArgumentParser
import Broker
import Foundation
import Journal

/// `brokerd journal replay`: the broker's state at a seq or a time, rebuilt from the journal.
struct JournalReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Rebuild the state at a seq or time: clients, subscriptions, prices, alert rules, signals.",
        discussion: """
            Starts from the newest usable snapshot at or before the target and replays the rest, like \
            start-up does. --until TIME is the state after the last event with a timestamp at or before \
            TIME (ISO-8601 with a zone, or epoch microseconds). Without either, the state at the last seq.
            """)

    @Option(help: "The journal file.")
    var journal: String = JournalCLI.defaultJournal

    @Option(name: .customLong("archive"), help: "Archives holding rows compacted out of the journal (repeatable, oldest first).")
    var archives: [String] = []

    @Option(name: .customLong("until-seq"), parsing: .unconditional, help: "The state right after this seq.")
    var untilSeq: String?

    @Option(name: .customLong("until"), parsing: .unconditional, help: "The state at this time: ISO-8601 or epoch microseconds.")
    var until: String?

    @Flag(help: "Print JSON (sorted keys) instead of text.")
    var json = false

    func run() throws {
        let (report, recovered) = try JournalCLI.run { () throws -> (StateReport, RecoveredProjection) in
            if untilSeq != nil && until != nil { throw JournalInputError("give --until-seq or --until, not both") }
            let reader = try JournalCLI.openReader(journal)
            let archiveReaders = try archives.map(JournalCLI.openReader)
            let target = try targetSeq(reader, archives: archiveReaders)
            let recovered = try ProjectionLoader(logger: JournalCLI.logger)
                .load(from: reader, archives: archiveReaders, untilSeq: target)
            return (recovered.projection.report(), recovered)
        }
        if json {
            let data = try JournalCLI.jsonEncoder(pretty: true).encode(report)
            print(String(decoding: data, as: UTF8.self))
        } else {
            let source = recovered.snapshotSeq.map { "snapshot at seq \($0) + \(recovered.replayedEvents) events" }
                ?? "\(recovered.replayedEvents) events replayed"
            print(report.text(source: source), terminator: "")
        }
    }

    /// The seq to stop at, fixed before reading so a broker appending meanwhile changes nothing;
    /// nil for the journal's end (then the loader also checks that no committed row is missing).
    private func targetSeq(_ reader: JournalReader, archives: [JournalReader]) throws -> UInt64? {
        let files = [reader] + archives.reversed()  // newest first
        let lastSeq = try reader.last()?.seq ?? reader.chainBase().seq
        if let untilSeq {
            let seq = try JournalCLI.seq(untilSeq, option: "--until-seq")
            guard seq <= lastSeq else {
                throw JournalInputError("--until-seq \(seq) is after the journal's last seq \(lastSeq)")
            }
            return seq
        }
        guard let until else { return nil }
        let time = try JournalCLI.time(until, option: "--until")
        for file in files {
            // At or after the last row's time: the state at the end, all of it.
            if let seq = try file.lastSeq(atOrBefore: time) { return file === reader && seq == lastSeq ? nil : seq }
            let base = try file.chainBase()
            guard base.isCompacted else { return 0 }  // before the first event: the empty state
            if base.timestamp <= time { return base.seq }
        }
        throw JournalInputError(
            "--until \(until) is before the first event in \(files.last?.path ?? journal); "
                + "older rows were archived: pass the archive with --archive")
    }
}
