import Testing

@testable import brokerbench

/// How the load tool counts what one client got: received, coalesced (superseded by a later tick of
/// the same code), duplicates, and entries that cannot be right.
struct DeliveryTallyTests {
    /// A 3-code strategy: tick ids 1, 4, 7… are code 600000, 2, 5, 8… code 600001, 3, 6, 9… 600002.
    private let strategy = BenchStrategy(size: 3)

    private func entry(_ id: UInt64) -> ScannedEntry {
        ScannedEntry(code: BenchStrategy.firstCode + strategy.codeIndex(ofTick: id), tickID: id)
    }

    /// Records `ids` as one message whose ticks were all sent at 1 ms and received at 3 ms.
    private func record(_ ids: [UInt64], in tally: inout DeliveryTally, latencies: inout [UInt64]) {
        tally.record(
            ids.map(entry), sentAt: ids.map { _ in 1_000_000 }, receivedAt: 3_000_000, strategy: strategy,
            latencies: &latencies)
    }

    @Test func countsEveryMeasuredTickOnceWithItsLatency() {
        var tally = DeliveryTally(strategySize: 3)
        var latencies: [UInt64] = []
        tally.beginMeasuring(from: 1)
        record([1, 2, 3], in: &tally, latencies: &latencies)
        record([4, 5, 6], in: &tally, latencies: &latencies)
        let result = tally.endMeasuring()
        #expect(result.received == 6)
        #expect(result.coalesced == 0)
        #expect(result.duplicates == 0)
        #expect(result.priceMessages == 2)
        #expect(latencies == Array(repeating: 2_000, count: 6))
    }

    @Test func aSkippedTickOfTheSameCodeIsCoalescedNotLost() {
        var tally = DeliveryTally(strategySize: 3)
        var latencies: [UInt64] = []
        tally.beginMeasuring(from: 1)
        record([1, 2, 3], in: &tally, latencies: &latencies)
        // 4 and 7 (code 0) were superseded by 10; 5 (code 1) by 8.
        record([10, 8, 6], in: &tally, latencies: &latencies)
        let result = tally.endMeasuring()
        #expect(result.received == 6)
        #expect(result.coalesced == 3)
    }

    @Test func anEntryAgainOrOlderThanOneReceivedIsADuplicate() {
        var tally = DeliveryTally(strategySize: 3)
        var latencies: [UInt64] = []
        tally.beginMeasuring(from: 1)
        record([4], in: &tally, latencies: &latencies)
        record([4, 1], in: &tally, latencies: &latencies)
        let result = tally.endMeasuring()
        #expect(result.received == 1)
        #expect(result.coalesced == 1)  // tick 1 was superseded by 4 when 4 came first
        #expect(result.duplicates == 2)
        #expect(result.priceMessages == 1)
    }

    @Test func warmUpTicksAreRememberedButNotCounted() {
        var tally = DeliveryTally(strategySize: 3)
        var latencies: [UInt64] = []
        record([1, 2, 3], in: &tally, latencies: &latencies)
        tally.beginMeasuring(from: 5)
        // 5 and 6 arrive; 7 (code 0) is superseded by 10. Tick 4 (code 0) belonged to the warm-up:
        // missing it is not counted.
        record([5, 6, 10], in: &tally, latencies: &latencies)
        // A warm-up tick again is old, but not a measured duplicate.
        record([2], in: &tally, latencies: &latencies)
        let result = tally.endMeasuring()
        #expect(result.received == 3)
        #expect(result.coalesced == 1)
        #expect(result.duplicates == 0)
        #expect(latencies.count == 3)
    }

    @Test func entriesWithAWrongCodeOrAnUnsentTickAreNeitherReceivedNorDuplicates() {
        var tally = DeliveryTally(strategySize: 3)
        var latencies: [UInt64] = []
        tally.beginMeasuring(from: 1)
        let wrongCode = ScannedEntry(code: BenchStrategy.firstCode + 1, tickID: 1)  // tick 1 is code 0
        let notInStrategy = ScannedEntry(code: 600_500, tickID: 2)
        tally.record(
            [wrongCode, notInStrategy, entry(3)], sentAt: [1_000, 1_000, 0], receivedAt: 2_000, strategy: strategy,
            latencies: &latencies)
        let result = tally.endMeasuring()
        #expect(result.mismatched == 2)
        #expect(result.unknown == 1)
        #expect(result.received == 0)
        #expect(result.priceMessages == 0)
        #expect(latencies.isEmpty)
    }

    @Test func knowsWhenTheLastTickOfEveryCodeHasArrived() {
        var tally = DeliveryTally(strategySize: 3)
        var latencies: [UInt64] = []
        tally.beginMeasuring(from: 1)
        let finals = strategy.finalTickIDs(in: 1...8)
        #expect(finals == [7, 8, 6])
        record([7, 6], in: &tally, latencies: &latencies)
        #expect(!tally.hasReceived(finalIDs: finals))
        record([8], in: &tally, latencies: &latencies)
        #expect(tally.hasReceived(finalIDs: finals))
    }

    @Test func theFleetTotalAddsEveryCounter() {
        var first = DeliveryTally(strategySize: 3)
        var second = DeliveryTally(strategySize: 3)
        var latencies: [UInt64] = []
        first.beginMeasuring(from: 1)
        second.beginMeasuring(from: 1)
        record([1, 2, 3], in: &first, latencies: &latencies)
        record([4, 4], in: &second, latencies: &latencies)
        var total = DeliveryTally(strategySize: 3)
        total.add(first.endMeasuring())
        total.add(second.endMeasuring())
        #expect(total.received == 4)
        #expect(total.coalesced == 1)
        #expect(total.duplicates == 1)
        #expect(total.priceMessages == 2)
    }
}

/// The benchmark strategy's arithmetic on tick ids, checked against counting one by one.
struct BenchStrategyTests {
    @Test(arguments: [1, 3, 50, 1_000])
    func countsTheTicksOfACodeInARangeAsCountingWould(size: Int) {
        let strategy = BenchStrategy(size: size)
        let ranges: [ClosedRange<UInt64>] = [1...1, 1...7, 2...2_500, 999...1_001, 40...40, 3_000...9_999]
        for range in ranges {
            for index in Set([0, size / 2, size - 1]) {
                let counted = range.filter { strategy.codeIndex(ofTick: $0) == index }.count
                #expect(strategy.tickCount(ofCode: index, in: range) == UInt64(counted), "size \(size) code \(index) \(range)")
            }
            let lastByCounting = (0..<size).map { index in range.last { strategy.codeIndex(ofTick: $0) == index } ?? 0 }
            #expect(strategy.finalTickIDs(in: range) == lastByCounting, "size \(size) \(range)")
        }
    }

    @Test func aTicksBodyCarriesEachIdAsTheVolumeOfItsCode() throws {
        let strategy = BenchStrategy(size: 3)
        let body = strategy.ticksBody(ids: 4...6)
        let scanned = Array(body.utf8).withUnsafeBytes { bytes in
            var entries: [ScannedEntry] = []
            _ = ServerFrameScanner.scan(bytes, entries: &entries)
            return entries
        }
        #expect(scanned.map(\.code) == [600_000, 600_001, 600_002])
        #expect(scanned.map(\.tickID) == [4, 5, 6])
        #expect(body.hasPrefix(#"{"ticks":[{"code":"600000","name":"Bench 0","price":10.04,"volume":4,"prev_close":10.0}"#))
    }
}
