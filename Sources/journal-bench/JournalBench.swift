import ArgumentParser
import Foundation
import Journal

@main
struct JournalBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal-bench",
        abstract: "Measures the journal: append throughput, replay speed, cold start, bytes per event.",
        subcommands: [AppendThroughput.self, ReplaySpeed.self, ColdStart.self, AlertEvaluation.self, CrashWriter.self],
        defaultSubcommand: AppendThroughput.self)
}

/// Options shared by the subcommands that write a scratch journal.
struct ScratchOptions: ParsableArguments {
    @Option(help: "Directory for scratch journals (removed afterwards).")
    var directory: String = FileManager.default.temporaryDirectory.path

    func scratchPath(_ name: String) throws -> String {
        let dir = URL(fileURLWithPath: directory).appendingPathComponent("journal-bench-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir.appendingPathComponent(name).path
    }

    func removeScratch() {
        try? FileManager.default.removeItem(
            at: URL(fileURLWithPath: directory).appendingPathComponent("journal-bench-\(getpid())"))
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func fileSize(_ path: String) -> Int64 {
    ((try? FileManager.default.attributesOfItem(atPath: path)[.size]) as? NSNumber)?.int64Value ?? 0
}

/// Appends forever from several tasks and prints every acknowledged seq: the crash test's child.
struct CrashWriter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash-writer", abstract: "Append until killed, printing each acknowledged seq (for the crash test).")

    @Option var journal: String
    @Option var durability: Durability = .normal
    @Option var appenders: Int = 8

    func run() async throws {
        let journal = try Journal.open(path: journal, options: JournalOptions(durability: durability))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for appender in 0..<appenders {
                group.addTask {
                    var n = 0
                    while true {
                        let position = try await journal.append(
                            NewRecord(kind: 1, key: "appender_\(appender)", payload: Array("payload \(n)".utf8)))
                        // Unbuffered: a line is out before the next append starts.
                        FileHandle.standardOutput.write(Data("\(position.seq)\n".utf8))
                        n += 1
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

extension Durability: ExpressibleByArgument {}
