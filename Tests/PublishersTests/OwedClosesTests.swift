import Broker
import Testing

@testable import Publishers

/// The queue of closes waiting for the journal: pure logic, no journal.
@Suite struct OwedClosesTests {
    private func close(_ code: String) -> KlineBar {
        KlineBar(code: code, period: "1m", open: 10, high: 10, low: 10, close: 10, volume: 0, start: 0, closed: true)
    }

    @Test func closesWhoseAppendFailedGoBackInFrontInTheirOrder() {
        var owed = OwedCloses(capacity: 10)
        owed.append([close("a"), close("b"), close("c")])
        let batch = owed.take(upTo: 2)
        #expect(batch.map(\.code) == ["a", "b"])
        owed.append([close("d")])

        #expect(owed.putBack(batch) == 0)
        #expect(owed.bars.map(\.code) == ["a", "b", "c", "d"])
        #expect(owed.dropped == 0)
    }

    @Test func aCloseJournaledFromElsewhereIsNoLongerOwed() {
        var owed = OwedCloses(capacity: 10)
        owed.append([close("a"), close("b")])
        owed.remove(closesOf: close("a"))
        #expect(owed.bars.map(\.code) == ["b"])
        var later = close("b")
        later.start = 60_000_000
        owed.remove(closesOf: later)
        #expect(owed.bars.map(\.code) == ["b"], "another minute's close stays owed")
        let batch = owed.take(upTo: 1)
        owed.remove(closesOf: close("b"))
        #expect(owed.putBack(batch) == 0)
        owed.remove(closesOf: close("b"))
        #expect(owed.count == 0)
    }

    @Test func pastTheCapacityTheOldestGoAndAreCounted() {
        var owed = OwedCloses(capacity: 3)
        owed.append([close("a"), close("b")])
        #expect(owed.append([close("c"), close("d")]) == 1)
        #expect(owed.bars.map(\.code) == ["b", "c", "d"])

        let batch = owed.take(upTo: 2)
        owed.append([close("e"), close("f")])
        #expect(owed.putBack(batch) == 2, "the put-back closes are the oldest")
        #expect(owed.bars.map(\.code) == ["d", "e", "f"])
        #expect(owed.dropped == 3)
    }

    @Test func aMinimumCapacityAboveTheCapacityHoldsMore() {
        var owed = OwedCloses(capacity: 2)
        owed.minimumCapacity = 4
        #expect(owed.append([close("a"), close("b"), close("c"), close("d")]) == 0)
        #expect(owed.append([close("e")]) == 1)
        #expect(owed.bars.map(\.code) == ["b", "c", "d", "e"])
    }
}
