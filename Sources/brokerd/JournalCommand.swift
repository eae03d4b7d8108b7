import ArgumentParser
import Foundation
import Journal

/// `brokerd journal …`: operate on a journal file without a running broker (read-only).
struct JournalCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal", abstract: "Inspect a journal file.", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Walk the hash chain; exit 0 when it holds, 1 naming the first bad seq.")

        @Option(help: "The journal file.")
        var journal: String = "./data/journal.sqlite"

        func run() async throws {
            let report: VerificationReport
            do {
                report = try JournalReader(path: journal).verify()
            } catch {
                FileHandle.standardError.write(Data("brokerd: \(error)\n".utf8))
                throw ExitCode(2)
            }
            if let bad = report.firstBadSeq {
                print("FAIL: first bad seq \(bad): \(report.problem ?? "")")
                throw ExitCode(1)
            }
            print("OK: \(report.checkedRows) rows verified, last seq \(report.lastSeq)")
        }
    }
}
