import ArgumentParser
import Broker
import Foundation
import Journal
import Logging

/// Why a `journal` subcommand refused its input, in one line.
struct JournalInputError: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// What the `journal` subcommands share: opening files, parsing seqs, times and kinds, and the
/// one-line-on-stderr, exit-code-2 way of refusing.
enum JournalCLI {
    static let defaultJournal = "./data/journal.sqlite"

    /// Runs `body`; any error becomes `brokerd: <why>` on stderr and exit code 2.
    static func run<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            FileHandle.standardError.write(Data("brokerd: \(String(describing: error).replacingOccurrences(of: "\n", with: " "))\n".utf8))
            throw ExitCode(2)
        }
    }

    /// Logs to stderr (skipped snapshots and the like), so stdout stays clean for JSON.
    static let logger: Logger = {
        var logger = Logger(label: "brokerd.journal") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        return logger
    }()

    /// Opens a journal or archive read-only; a missing file is named as such, not as an SQLite error.
    static func openReader(_ path: String) throws -> JournalReader {
        try requireFile(path)
        return try JournalReader(path: path)
    }

    static func requireFile(_ path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw JournalInputError("no journal at \(path)")
        }
        guard !isDirectory.boolValue else { throw JournalInputError("\(path) is a directory, not a journal file") }
    }

    /// A seq option (or, with `what` "a count", one like `--limit`): a non-negative integer.
    ///
    /// Options of numbers and times take the next argument whatever it is (`parsing: .unconditional`):
    /// `-1` is then refused here with its reason, not taken for an option; a value such as `--json`
    /// is refused as not a number. Other options keep the default, so `--client --json` is a
    /// missing value, not a client named `--json`.
    static func seq(_ text: String, option: String, what: String = "a seq") throws -> UInt64 {
        guard let value = UInt64(text) else {
            throw JournalInputError("\(option) \(text) is not \(what): give a whole number of 0 or more, such as 1234")
        }
        return value
    }

    /// A time option: ISO-8601 with a zone, or integer epoch microseconds.
    static func time(_ text: String, option: String) throws -> Int64 {
        guard let value = ISOTimestamp.parse(text) else {
            throw JournalInputError(
                "\(option) \(text) is not a time: give ISO-8601 with a zone (2026-11-23T14:00:00Z, "
                    + "2026-11-23T22:00:00.5+08:00) or epoch microseconds (1795442400000000)")
        }
        // Epoch seconds (what `date +%s` prints) or milliseconds read as microseconds would name a
        // moment in 1970 and select nothing, or everything, without a word.
        if text.drop(while: { $0 == "-" }).allSatisfy(\.isNumber), let problem = FieldRules.fedTimeProblem(value) {
            throw JournalInputError("\(option) \(text) \(problem) (e.g. 1795442400000000), or ISO-8601 with a zone")
        }
        return value
    }

    /// `--from` and `--to`, refused when the range is empty (the start after the end).
    static func timeRange(from: String?, to: String?) throws -> (from: Int64?, to: Int64?) {
        let start = try from.map { try time($0, option: "--from") }
        let end = try to.map { try time($0, option: "--to") }
        if let start, let end, start > end {
            throw JournalInputError("--from \(from ?? "") is after --to \(to ?? ""): no event can be in between")
        }
        return (start, end)
    }

    /// An event kind by its snake_case name or its number.
    static func kind(_ text: String) throws -> EventKind {
        if let kind = EventKind(name: text) ?? UInt16(text).flatMap(EventKind.init(rawValue:)) { return kind }
        let known = EventKind.allCases.map { "\($0.name) (\($0.rawValue))" }.joined(separator: ", ")
        throw JournalInputError("unknown event kind '\(text)': use one of \(known)")
    }

    /// JSON with sorted keys: the same value always gives the same bytes.
    static func jsonEncoder(pretty: Bool) -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// Collects stdout output and writes it in large chunks: streaming millions of lines through
/// `print` one by one would cost more than reading them.
struct StandardOutput {
    private var buffer: [UInt8] = []
    private let flushAt = 1 << 16

    init() {
        buffer.reserveCapacity(flushAt + 4_096)
    }

    mutating func writeLine(_ bytes: some Collection<UInt8>) {
        buffer.append(contentsOf: bytes)
        buffer.append(UInt8(ascii: "\n"))
        if buffer.count >= flushAt { flush() }
    }

    mutating func writeLine(_ text: String) {
        writeLine(Array(text.utf8))
    }

    mutating func flush() {
        guard !buffer.isEmpty else { return }
        FileHandle.standardOutput.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }
}
