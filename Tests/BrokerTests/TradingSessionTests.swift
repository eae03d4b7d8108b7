import Broker
import Testing

/// Where ticks at the edges of the A-share session are binned, and when the bars ending a session
/// are over: pure time arithmetic on 2025-11-26 (a Wednesday).
@Suite("Trading session: the edges of the A-share day")
struct TradingSessionTests {
    /// 2025-11-26 00:00 Asia/Shanghai, 16:00 UTC the day before.
    private static let midnight: Int64 = 1_764_086_400_000_000
    private static let second: Int64 = 1_000_000

    /// `hh:mm:ss` Asia/Shanghai on that day plus `micros`, in UTC microseconds.
    private static func local(_ hour: Int64, _ minute: Int64, _ seconds: Int64 = 0, micros: Int64 = 0) -> Int64 {
        midnight + ((hour * 60 + minute) * 60 + seconds) * second + micros
    }

    private func binned(_ time: Int64, code: String = "600519") -> Int64 {
        TradingSession.binningTime(of: time, code: code)
    }

    @Test("the opening auction's print, 09:25 up to 09:30, is binned at 09:30:00, the first bar's start")
    func openingAuctionPrintsOpenTheFirstBar() {
        #expect(binned(Self.local(9, 25)) == Self.local(9, 30))
        #expect(binned(Self.local(9, 27, 13)) == Self.local(9, 30))
        #expect(binned(Self.local(9, 29, 59)) == Self.local(9, 30))
        #expect(binned(Self.local(9, 29, 59, micros: 999_999)) == Self.local(9, 30))
    }

    @Test("before the auction's print and from 09:30 on, a tick is binned at its own time")
    func ticksAroundTheOpeningAuctionKeepTheirTime() {
        for time in [Self.local(9, 24, 59, micros: 999_999), Self.local(9, 30), Self.local(9, 30, 0, micros: 1), Self.local(10, 0)] {
            #expect(binned(time) == time)
        }
    }

    @Test("a print within a minute after 11:30 or 15:00 is binned in the bar ending there", arguments: [(11, 30), (15, 0)])
    func printsAfterASessionsCloseFoldIntoItsLastBar(hour: Int64, minute: Int64) {
        let lastMicrosecond = Self.local(hour, minute) - 1
        #expect(binned(Self.local(hour, minute)) == lastMicrosecond)
        #expect(binned(Self.local(hour, minute, 3)) == lastMicrosecond)
        #expect(binned(Self.local(hour, minute, 59, micros: 999_999)) == lastMicrosecond)
    }

    @Test("from a minute after 11:30 or 15:00, and before them, a tick is binned at its own time", arguments: [(11, 30), (15, 0)])
    func ticksOutsideTheGraceKeepTheirTime(hour: Int64, minute: Int64) {
        let close = Self.local(hour, minute)
        for time in [close - 1, close + TradingSession.closingGrace, close + TradingSession.closingGrace + 1] {
            #expect(binned(time) == time)
        }
    }

    @Test("the lunch break past the grace, the afternoon's opening and the night are not moved")
    func ticksAwayFromTheEdgesKeepTheirTime() {
        for time in [Self.local(11, 45), Self.local(12, 59, 59), Self.local(13, 0), Self.local(15, 30), Self.local(21, 25), Self.local(3, 0)] {
            #expect(binned(time) == time)
        }
    }

    @Test("codes on no board keep their time at the session's edges too", arguments: ["900901", "200002", "AAPL", "HSI"])
    func codesOfNoBoardKeepTheirTime(code: String) {
        for time in [Self.local(9, 25), Self.local(11, 30, 2), Self.local(15, 0, 3)] {
            #expect(binned(time, code: code) == time)
        }
    }

    @Test("codes of every board are A-shares", arguments: ["600519", "000001", "300750", "830799", "920001"])
    func codesOfEveryBoardFollowTheSession(code: String) {
        #expect(binned(Self.local(9, 26), code: code) == Self.local(9, 30))
        #expect(binned(Self.local(15, 0, 1), code: code) == Self.local(15, 0) - 1)
    }

    @Test("a bar ending at 11:30 or 15:00 is over a minute later, any other at its end")
    func barsEndingASessionCloseAfterTheGrace() {
        #expect(TradingSession.closingTime(ofBarEnding: Self.local(11, 30), code: "600519") == Self.local(11, 31))
        #expect(TradingSession.closingTime(ofBarEnding: Self.local(15, 0), code: "000001") == Self.local(15, 1))
        for end in [Self.local(11, 29), Self.local(11, 31), Self.local(13, 0), Self.local(14, 59), Self.local(9, 30), Self.local(15, 0) + 1] {
            #expect(TradingSession.closingTime(ofBarEnding: end, code: "600519") == end)
        }
        #expect(TradingSession.closingTime(ofBarEnding: Self.local(15, 0), code: "900901") == Self.local(15, 0), "a B-share: no board")
    }
}
