import ArgumentParser
import Broker
import Foundation
import Journal

/// `brokerd journal events`: the audit trail as JSON lines, streamed in constant memory.
struct JournalEventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Print journal events as JSON lines, filtered by client, user, kind, code, time or seq.",
        discussion: """
            One line per event: {"seq","ts","kind","key","payload"}, keys sorted, ts in ISO-8601 with \
            microseconds. Filters combine (all must hold). --client selects the client's connects, \
            disconnects, expiry, subscriptions and the alerts of the user(s) it connected as; --user \
            selects the same of every session that connected as the user, and the user's alerts; --code \
            selects ticks and bars of the code, news tagged with it, alert rules on it, signal lists \
            containing it and stock subscriptions to it. --from/--to are inclusive.
            """)

    @Option(help: "The journal file.")
    var journal: String = JournalCLI.defaultJournal

    @Option(name: .customLong("archive"), help: "Archives to read first (repeatable, oldest first).")
    var archives: [String] = []

    @Option(help: "Only events about this client id.")
    var client: String?

    @Option(help: "Only events about this user's sessions (the sub of their tokens) and alerts.")
    var user: String?

    @Option(name: .customLong("kind"), help: "Only this kind: snake_case name (price_ticked) or number (repeatable).")
    var kinds: [String] = []

    @Option(help: "Only events about this stock code.")
    var code: String?

    @Option(parsing: .unconditional, help: "Only events at or after this time: ISO-8601 or epoch microseconds.")
    var from: String?

    @Option(parsing: .unconditional, help: "Only events at or before this time: ISO-8601 or epoch microseconds.")
    var to: String?

    @Option(name: .customLong("from-seq"), parsing: .unconditional, help: "Only events at or after this seq.")
    var fromSeq: String?

    @Option(parsing: .unconditional, help: "Stop after this many events.")
    var limit: String?

    func run() throws {
        try JournalCLI.run {
            let kinds = try Set(self.kinds.map(JournalCLI.kind))
            let (fromTime, toTime) = try JournalCLI.timeRange(from: from, to: to)
            let fromSeq = try fromSeq.map { try JournalCLI.seq($0, option: "--from-seq") } ?? 0
            let limit = try limit.map { try JournalCLI.seq($0, option: "--limit", what: "a count") } ?? .max
            let files = try archives.map(JournalCLI.openReader) + [JournalCLI.openReader(journal)]
            try JournalReader.requireLinked(files)
            // Rows from a seq the files no longer hold would start later, silently.
            let firstBase = try files[0].chainBase()
            if fromSeq >= 1, fromSeq <= firstBase.seq {
                throw JournalInputError(
                    "--from-seq \(fromSeq) is before the first row of \(files[0].path) (compaction archived the rows up to seq "
                        + "\(firstBase.seq)): pass the archive holding them with --archive")
            }
            // A range from the start (or a time before the archived rows end) reaches into rows
            // these files lack: said on stderr (stdout stays JSON lines), so that no answer is
            // not taken for "nothing happened".
            if firstBase.isCompacted, fromSeq == 0, fromTime.map({ $0 <= firstBase.timestamp }) ?? true {
                FileHandle.standardError.write(Data((
                    "brokerd: note: \(files[0].path) starts after seq \(firstBase.seq) "
                        + "(\(ISOTimestamp.format(microseconds: firstBase.timestamp))): compaction archived the rows before; "
                        + "their events are not shown: pass the archive holding them with --archive\n").utf8))
            }
            var filter = EventFilter(kinds: kinds.isEmpty ? nil : kinds, clientID: client, code: code, user: user)
            try learn(&filter, files: files, fromSeq: fromSeq, fromTime: fromTime)

            var output = StandardOutput()
            defer { output.flush() }
            let encoder = JournalCLI.jsonEncoder(pretty: false)
            var written: UInt64 = 0
            var lastSeq: UInt64 = 0
            let query = JournalQuery(
                fromTime: fromTime, toTime: toTime, kinds: filter.scanKinds.map { Set($0.map(\.rawValue)) }, keys: filter.scanKeys)
            for file in files {
                var fileQuery = query
                fileQuery.fromSeq = max(fromSeq, lastSeq + 1)  // an interrupted compaction may leave rows in two files
                let cursor = try file.records(fileQuery)
                while written < limit, let record = try cursor.next() {
                    lastSeq = record.seq
                    guard filter.mayMatch(kind: record.kind, key: record.key) else { continue }
                    let line = EventLine(record)
                    switch line.event {
                    case .success(let event):
                        guard filter.matches(event) else { continue }
                    case .failure:
                        // An undecodable row is shown only when no filter needs its contents.
                        guard client == nil, code == nil, user == nil else { continue }
                    }
                    output.writeLine(try encoder.encode(line))
                    written += 1
                }
            }
        }
    }

    /// Feeds the filter what it must know from before the range (a client's users, rules' codes).
    private func learn(_ filter: inout EventFilter, files: [JournalReader], fromSeq: UInt64, fromTime: Int64?) throws {
        guard let learning = filter.learningQuery else { return }
        for file in files {
            var query = JournalQuery(kinds: Set(learning.kinds.map(\.rawValue)), key: learning.key)
            if !learning.wholeJournal {
                let timeStart = try fromTime.map { try file.firstSeq(atOrAfter: $0) } ?? 0
                // nil: every row of this file is before the range, so all of it is learned from.
                if let timeStart {
                    let rangeStart = max(fromSeq, timeStart)
                    guard rangeStart > 0 else { continue }
                    query.toSeq = rangeStart - 1
                }
            }
            let cursor = try file.records(query)
            while let record = try cursor.next() {
                if let event = try? EventCodec.decode(kind: record.kind, payload: record.payload) { filter.learn(event) }
            }
        }
    }
}
