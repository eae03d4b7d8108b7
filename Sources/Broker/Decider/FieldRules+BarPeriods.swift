/// Where bars of each period start.
extension FieldRules {
    /// Periods whose bars start on a fixed grid, with their length in microseconds: a bar starts at
    /// a multiple of its length since 1970 (UTC). Every A-share session boundary (09:30, 11:30,
    /// 13:00 and 15:00 Asia/Shanghai) is on each of these grids, and the broker builds its `1m` and
    /// `5m` bars from ticks on them. `60m` bars have no such grid (vendors start them at 09:30,
    /// 10:30, 13:00 and 14:00), nor do `1d` and `1w` bars, which vendors label in their own ways.
    public static let gridBarPeriods: [String: Int64] = [
        "1m": 60_000_000, "5m": 300_000_000, "15m": 900_000_000, "30m": 1_800_000_000,
    ]

    /// How far ahead of the broker's clock a time from outside may be (a bar's start, the time a
    /// peer node stamped a tick with): clocks differ a little.
    public static let clockTolerance: Int64 = 5_000_000

    /// The start of the bar of `period` that holds `time` (UTC microseconds): on the grid for the
    /// grid periods, 00:00 Asia/Shanghai of its day for `1d` and of its Monday for `1w`; nil for
    /// `60m` (no grid) and unknown periods.
    public static func barStart(period: String, containing time: Int64) -> Int64? {
        if let length = gridBarPeriods[period] { return time - time % length }
        let day = TradingCalendar.day(of: time)
        switch period {
        case "1d":
            return TradingCalendar.start(ofDay: day)
        case "1w":
            // 1970-01-01 was a Thursday: day 0 is three days after a Monday.
            let monday = day - ((day + 3) % 7 + 7) % 7
            return TradingCalendar.start(ofDay: monday)
        default:
            return nil
        }
    }

    /// The start of the bar of `period` that a bar of `code` sent at `now` without a start is: the
    /// one a tick of the code is built into at `now` (`TradingSession.binningTime`), so during the
    /// opening auction an A-share's is the day's first bar, and just after 11:30 or 15:00 the
    /// session's last. Nil for `60m` (no grid) and unknown periods.
    public static func barStart(period: String, code: String, sentAt now: Int64) -> Int64? {
        barStart(period: period, containing: TradingSession.binningTime(of: now, code: code))
    }

    /// Why `bar` cannot start where it does, or nil when it can: a grid period's bar must start on
    /// its grid, or it would be a second bar beside the one of that period (built from ticks, or
    /// fed), and the one with the later start would hide it.
    static func barStartProblem(_ bar: KlineBar) -> String? {
        guard let length = gridBarPeriods[bar.period], bar.start % length != 0 else { return nil }
        return "has start \(bar.start), not on the \(bar.period) grid: \(bar.period) bars start at multiples of \(length) µs "
            + "(this one's period starts at \(bar.start - bar.start % length)), or leave start out for the current period"
    }

    /// Why `bar`, fed from outside when the broker's clock says `now`, starts too late, or nil:
    /// a grid period's bar that starts in the future would close or replace the bar the broker
    /// builds from ticks ahead of its time. During the opening auction an A-share's 09:30 bar is
    /// not in the future: the broker builds it from the auction's print on. Other periods are
    /// labelled in vendors' own ways (a day bar at 15:00, say), so they are not held to the clock.
    public static func futureBarProblem(_ bar: KlineBar, now: Int64) -> String? {
        let current = max(now, TradingSession.binningTime(of: now, code: bar.code))
        guard gridBarPeriods[bar.period] != nil, bar.start > current + clockTolerance else { return nil }
        return "has start \(bar.start), after the broker's clock (\(now)): a bar cannot start in the future"
    }
}
