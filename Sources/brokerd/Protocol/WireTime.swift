import Journal

/// Timestamps on the wire: ISO-8601 UTC with microseconds (`2026-11-23T09:30:00.123456Z`), the same
/// format the journal tools print (`ISOTimestamp`).
enum WireTime {
    /// The current time as the wire shows it.
    static func now() -> String { format(microseconds: WallClock.microsecondsNow()) }

    /// Formats UTC microseconds since 1970.
    static func format(microseconds: Int64) -> String { ISOTimestamp.format(microseconds: microseconds) }
}
