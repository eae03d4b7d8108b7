#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The wall clock in the journal's unit, UTC microseconds.
public enum WallClock {
    public static func microsecondsNow() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }
}

/// A clock that only moves forward, in microseconds since an arbitrary start (boot): for measuring
/// how long something took or has been quiet. The wall clock can jump (an NTP step, a VM resumed
/// after a pause): measured on it, a jump of more than the heartbeat timeout closed every
/// connection at once as silent.
public enum ElapsedClock {
    public static func microsecondsNow() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }
}
