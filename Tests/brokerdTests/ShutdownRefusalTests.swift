import Broker
import Journal
import Logging
import Testing
import TestSupport

@testable import brokerd

/// Once a shutdown begins, the broker says it is not ready and journals no more ingest: nothing
/// lands after the final snapshot, and a load balancer sends the traffic elsewhere.
struct ShutdownRefusalTests {
    @Test func readinessAndIngestAreRefusedFromTheStartOfAShutdown() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        defer { journal.close() }
        let runtime = BrokerRuntime(configuration: Configuration(), logger: Logger(label: "test"))
        let routes = APIRoutes(runtime: runtime)
        #expect(routes.readiness().status == .serviceUnavailable)  // not replayed yet
        runtime.becomeReady(with: try EventStore(journal: journal))
        #expect(routes.readiness().status == .ok)
        let tick = FedTick(code: "600519", name: "M", price: 10, volume: 1, prevClose: 9, timestamp: 1)
        try await routes.execute(.ingestTicks([tick]))

        runtime.beginShutdown()
        #expect(routes.readiness().status == .serviceUnavailable)
        do {
            try await routes.execute(.ingestTicks([tick]))
            Issue.record("a tick was ingested during the shutdown")
        } catch let error as APIError {
            #expect(error.status == .serviceUnavailable)
            #expect(error.error == "shutting_down")
        }
        #expect(journal.lastSeq == 1)
    }

    @Test func readinessIsRefusedWhileJournalCommitsFailAndComesBackAfterTheHold() async throws {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"), options: JournalOptions(maxSizeBytes: 256 * 1024))
        defer { journal.close() }
        let runtime = BrokerRuntime(configuration: Configuration(), logger: Logger(label: "test"))
        let routes = APIRoutes(runtime: runtime)
        runtime.becomeReady(with: try EventStore(journal: journal))
        #expect(routes.readiness().status == .ok)

        var refused: APIError?
        for batch in 0..<200 where refused == nil {
            let ticks = (0..<200).map {
                FedTick(code: String(600000 + batch * 200 + $0), name: "M", price: 10, volume: 1, prevClose: 9, timestamp: 1)
            }
            do { try await routes.execute(.ingestTicks(ticks)) } catch let error as APIError { refused = error }
        }
        #expect(refused?.status == .serviceUnavailable)
        #expect(refused?.error == "journal_unavailable")
        let failure = try #require(journal.statistics.lastCommitFailure)

        #expect(routes.readiness(now: failure.timestamp + 1_000_000).status == .serviceUnavailable)
        let unready = try #require(routes.unreadiness(now: failure.timestamp + 1_000_000))
        #expect(unready.error == "journal_failing")
        #expect(unready.details.contains("full"), "\(unready.details)")
        // After the hold, ready again: traffic comes back and finds out whether there is room now.
        #expect(routes.readiness(now: failure.timestamp + APIRoutes.journalFailureHold + 1).status == .ok)
    }
}
