/// One entry of a `price_update`: the code (as a number; -1 if it was not six digits) and the volume,
/// which carries the benchmark's tick id.
struct ScannedEntry: Sendable {
    var code: Int
    var tickID: UInt64
}
