import Logging
import Synchronization
import Testing

@testable import brokerd

/// A line that may repeat thousands of times a second goes out once per interval, with a count.
struct ThrottledLogTests {
    /// Keeps what a logger was given.
    private final class Lines: LogHandler, @unchecked Sendable {
        // @unchecked: the test logs from one task; `lines` is read after.
        var lines: [(message: String, metadata: Logger.Metadata, level: Logger.Level)] = []
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            lines.append((event.message.description, event.metadata ?? [:], event.level))
        }
    }

    @Test func logsOncePerIntervalAndSaysHowManyItLeftOut() {
        let handler = Lines()
        let logger = Logger(label: "test") { _ in handler }
        let log = ThrottledLog(interval: 10_000_000)
        for second in [0, 1, 2, 9] {
            log.log("refused", key: "too_fast", metadata: ["n": "\(second)"], logger: logger, now: Int64(second) * 1_000_000)
        }
        // Another kind has its own interval: not hidden by the flood of the first.
        log.log("full", key: "full", metadata: ["n": "5"], logger: logger, now: 5_000_000)
        log.log("refused", key: "too_fast", metadata: ["n": "10"], logger: logger, now: 10_000_000)
        log.log("refused", key: "too_fast", metadata: ["n": "11"], logger: logger, now: 11_000_000)
        #expect(handler.lines.map(\.message) == ["refused", "full", "refused"])
        #expect(handler.lines.map { $0.metadata["n"]?.description } == ["0", "5", "10"])
        #expect(handler.lines[0].metadata["left_out_since_last"] == nil)
        #expect(handler.lines[2].metadata["left_out_since_last"]?.description == "3")
        #expect(handler.lines.allSatisfy { $0.level == .notice })
    }

    @Test func aLineGoesOutAtTheLevelAskedFor() {
        let handler = Lines()
        let logger = Logger(label: "test") { _ in handler }
        ThrottledLog().log("came too late", key: "stale", metadata: [:], logger: logger, now: 0, level: .warning)
        #expect(handler.lines.map(\.level) == [.warning])
    }
}
