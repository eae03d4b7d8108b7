import Broker
import Testing

@testable import brokerd

/// Which bar of a period a new stock subscriber's snapshot carries.
@Suite struct SnapshotBarTests {
    private func bar(start: Int64, close: Double, closed: Bool) -> KlineBar {
        KlineBar(code: "600519", period: "1m", open: 10, high: 12, low: 9, close: close, volume: 5, start: start, closed: closed)
    }

    @Test func theBarBeingBuiltWinsOverAnOlderJournaledOne() {
        let journaled = bar(start: 60_000_000, close: 10, closed: true)
        let building = bar(start: 120_000_000, close: 11, closed: false)
        #expect(ClientSession.latestBar(journaled, building) == building)
        #expect(ClientSession.latestBar(nil, building) == building)
    }

    @Test func aJournaledBarOfTheSameOrALaterPeriodWins() {
        let building = bar(start: 120_000_000, close: 11, closed: false)
        let ingested = bar(start: 120_000_000, close: 13, closed: false)
        let later = bar(start: 180_000_000, close: 14, closed: true)
        #expect(ClientSession.latestBar(ingested, building) == ingested, "same period: the bar ingested as it is")
        #expect(ClientSession.latestBar(later, building) == later)
        #expect(ClientSession.latestBar(later, nil) == later)
        #expect(ClientSession.latestBar(nil, nil) == nil)
    }
}
