import Foundation
import Journal
import TestSupport
import Testing

/// A child process appends as fast as it can and prints every acknowledged seq; the test kills it
/// with SIGKILL at a random moment and checks that the file kept every acknowledged event.
@Suite struct JournalCrashTests {
    @Test(arguments: [Durability.normal, .full])
    func everyAcknowledgedSeqSurvivesKillNine(durability: Durability) async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("crash.sqlite")
        let writer = Process()
        writer.executableURL = productsDirectory().appendingPathComponent("journal-bench")
        writer.arguments = ["crash-writer", "--journal", path, "--durability", durability.rawValue, "--appenders", "8"]
        let output = Pipe()
        writer.standardOutput = output
        try writer.runWatched()

        var acknowledged = Set<UInt64>()
        var buffer = Data()
        let killAfter = Int.random(in: 2_000...20_000)
        while acknowledged.count < killAfter {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                if let seq = UInt64(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)) {
                    acknowledged.insert(seq)
                }
                buffer.removeSubrange(buffer.startIndex...newline)
            }
        }
        kill(writer.processIdentifier, SIGKILL)
        writer.endedBlocking()
        #expect(writer.endingSignal == SIGKILL)
        #expect(acknowledged.count >= killAfter)
        let reader = try JournalReader(path: path)
        let report = try reader.verify()
        #expect(report.isValid, "chain broken at \(String(describing: report.firstBadSeq)): \(report.problem ?? "")")
        let missing = acknowledged.filter { $0 > report.lastSeq }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.sorted().prefix(10))")
        // Reopening for writing works and continues the chain.
        let reopened = try Journal.open(path: path)
        let next = try await reopened.append(record(0))
        reopened.close()
        #expect(next.seq == report.lastSeq + 1)
    }
}
