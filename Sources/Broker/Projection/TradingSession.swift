/// The edges of the A-share trading session, as bars built from ticks see them. Continuous trading
/// runs 09:30–11:30 and 13:00–15:00 Asia/Shanghai, but ticks are stamped on receipt, and three
/// prints fall outside it: the opening call auction's result (between 09:25 and 09:30), which is
/// the open of the day's first bar, and the morning's last trade and the closing call auction's
/// result, which arrive just after 11:30 and 15:00 and are the closes of the bars ending there.
/// Vendors count 240 one-minute bars a day, 09:30 to 11:29 and 13:00 to 14:59; so does the broker.
///
/// Only codes on a board (`Board.of(code:)`) trade these hours; other codes, and every other
/// time (the lunch break past the grace, the night, where the simulator keeps trading), are binned
/// at their own time.
public enum TradingSession {
    /// How long after 11:30 and 15:00 a print still belongs to the session that just ended. Those
    /// prints are sent at the bell and stamped when they arrive, seconds later with a slow feed; a
    /// minute takes them all in, and the bars ending at 11:30 and 15:00 stay open that long. Ticks
    /// after it (the lunch break, the evening) are binned at their own time.
    public static let closingGrace: Int64 = 60_000_000

    /// How long before the day's first bar (09:30) its first tick can arrive: the opening call
    /// auction's print comes from 09:25.
    public static let openingAuctionLead: Int64 = opening - openingAuction

    private static let minute: Int64 = 60_000_000
    /// When the opening call auction's result prints, as time since midnight Asia/Shanghai.
    private static let openingAuction: Int64 = (9 * 60 + 25) * minute
    /// When continuous trading starts: the start of the day's first bar.
    private static let opening: Int64 = (9 * 60 + 30) * minute
    /// When the morning session ends.
    private static let morningClose: Int64 = (11 * 60 + 30) * minute
    /// When the afternoon session ends, with the closing call auction's result.
    private static let afternoonClose: Int64 = 15 * 60 * minute

    /// The time a tick of `code` stamped at `timestamp` (UTC microseconds) is binned at: 09:30:00
    /// for a tick of 09:25 up to 09:30 (the opening auction's print), the last microsecond before
    /// 11:30 or 15:00 for a tick within `closingGrace` after it, else `timestamp`.
    public static func binningTime(of timestamp: Int64, code: String) -> Int64 {
        let time = timeOfDay(timestamp)
        let shift: Int64
        if time >= openingAuction, time < opening {
            shift = opening - time
        } else if let close = sessionClose(justBefore: time) {
            shift = close - time - 1
        } else {
            return timestamp
        }
        // Only now, in one of the windows: most ticks are not, and this runs for every tick.
        return Board.of(code: code) == nil ? timestamp : timestamp + shift
    }

    /// When a bar of `code` that ends at `end` (UTC microseconds) is over: `closingGrace` after
    /// `end` when it ends a session (11:30 or 15:00), since the session's last prints fold into it
    /// until then, else at `end`.
    public static func closingTime(ofBarEnding end: Int64, code: String) -> Int64 {
        let time = timeOfDay(end)
        guard time == morningClose || time == afternoonClose, Board.of(code: code) != nil else { return end }
        return end + closingGrace
    }

    /// 11:30 or 15:00, when `time` (since midnight) is within `closingGrace` after it.
    private static func sessionClose(justBefore time: Int64) -> Int64? {
        if time >= morningClose, time < morningClose + closingGrace { return morningClose }
        if time >= afternoonClose, time < afternoonClose + closingGrace { return afternoonClose }
        return nil
    }

    /// Time since midnight Asia/Shanghai of `timestamp`, in microseconds.
    private static func timeOfDay(_ timestamp: Int64) -> Int64 {
        timestamp - TradingCalendar.start(ofDay: TradingCalendar.day(of: timestamp))
    }
}
