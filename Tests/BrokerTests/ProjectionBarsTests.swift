import Testing

@testable import Broker

@Suite("Projection bars")
struct ProjectionBarsTests {
    private func bar(start: Int64, close: Double, closed: Bool = false) -> KlineBar {
        KlineBar(code: "600519", period: "1d", open: 10, high: 12, low: 9, close: close, volume: 100, start: start, closed: closed)
    }

    @Test("the latest bar of a period is the one with the latest start, not the last journaled")
    func anEarlierBarJournaledLaterDoesNotReplaceTheLatest() {
        let today = TradingCalendar.start(ofDay: 20_425)
        let yesterday = TradingCalendar.start(ofDay: 20_424)
        let key = BarKey(code: "600519", period: "1d")
        // Yesterday's daily bar re-sent (corrected) in the morning, after today's opened.
        let p = projection([.klineUpdated(bar(start: today, close: 11)), .klineUpdated(bar(start: yesterday, close: 10.5, closed: true))])
        #expect(p.lastBars[key]?.start == today)
        #expect(p.lastBars[key]?.close == 11)
        // An update of the same bar does replace it.
        let updated = projection([.klineUpdated(bar(start: today, close: 11)), .klineUpdated(bar(start: today, close: 11.4))])
        #expect(updated.lastBars[key]?.close == 11.4)
    }
}
