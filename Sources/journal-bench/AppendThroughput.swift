import ArgumentParser
import Foundation
import Journal

/// Append throughput with N concurrent appenders, each awaiting its own acknowledgement.
struct AppendThroughput: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append", abstract: "Append throughput for 1, 16 and 64 concurrent appenders.")

    @Option(parsing: .upToNextOption, help: "Concurrent appender counts to measure.")
    var appenders: [Int] = [1, 16, 64]
    @Option(parsing: .upToNextOption, help: "Durability levels to measure.")
    var durability: [Durability] = [.normal, .full]
    @Option(help: "Events per run.")
    var events: Int = 200_000
    @Option(help: "Runs per configuration; the median is reported.")
    var runs: Int = 5
    @Option(help: "Payload bytes per event (a binary price tick is ~45).")
    var payloadBytes: Int = 45
    @OptionGroup var scratch: ScratchOptions

    func run() async throws {
        defer { scratch.removeScratch() }
        let payload = [UInt8]((0..<payloadBytes).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        print("durability  appenders  events/s (median of \(runs))  runs  bytes/event  mean batch")
        for level in durability {
            for count in appenders {
                var rates: [Double] = []
                var bytesPerEvent = 0.0
                var meanBatch = 0.0
                for run in 0..<runs {
                    let path = try scratch.scratchPath("append-\(level)-\(count)-\(run).sqlite")
                    let journal = try Journal.open(path: path, options: JournalOptions(durability: level))
                    let perAppender = max(1, events / count)
                    let start = ContinuousClock.now
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for appender in 0..<count {
                            group.addTask {
                                let key = "client_\(String(appender, radix: 16))"
                                for _ in 0..<perAppender {
                                    _ = try await journal.append(NewRecord(kind: 6, key: key, payload: payload))
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                    let elapsed = seconds(since: start)
                    meanBatch = journal.statistics.meanBatchSize
                    journal.close()
                    rates.append(Double(perAppender * count) / elapsed)
                    bytesPerEvent = Double(fileSize(path) + fileSize(path + "-wal")) / Double(perAppender * count)
                    try? FileManager.default.removeItem(atPath: path)
                }
                let rendered = rates.map { String(format: "%.0f", $0) }.joined(separator: " ")
                print(String(format: "%-10@  %9d  %24.0f  [%@]  %.1f  %.1f", level.rawValue, count, median(rates), rendered, bytesPerEvent, meanBatch))
            }
        }
    }
}
