/// The days of the A-share market: Asia/Shanghai dates, UTC+8 all year (China keeps no daylight
/// saving time). A tick's cumulative volume counts from the start of its trading day.
public enum TradingCalendar {
    /// A day, in microseconds.
    public static let dayLength: Int64 = 86_400_000_000
    /// Asia/Shanghai's offset from UTC, in microseconds.
    public static let utcOffset: Int64 = 8 * 3_600_000_000

    /// The Asia/Shanghai date of `timestamp` (UTC microseconds), as days since 1970-01-01.
    public static func day(of timestamp: Int64) -> Int64 {
        let local = timestamp + utcOffset
        return local >= 0 ? local / dayLength : (local + 1) / dayLength - 1
    }

    /// When `day` (days since 1970-01-01) begins: 00:00 Asia/Shanghai, in UTC microseconds.
    public static func start(ofDay day: Int64) -> Int64 {
        day * dayLength - utcOffset
    }
}
