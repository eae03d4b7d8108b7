import Histogram

/// What one stretch of publishing to Redis achieved.
struct RedisFeedReport: Sendable {
    /// The strategy ticks (the ones clients receive) as the clients' accounting sees them: their
    /// ids, the messages that carried them (`posts`), the stretch's length, and the round trip
    /// of each pipeline (`postMicros`: from writing its commands to reading the last reply).
    var feed = FeedReport()
    /// Every tick published, universe ticks included.
    var ticks: UInt64 = 0
    var messages = 0
    /// PUBLISHes that Redis delivered to no subscriber (the broker was not subscribed).
    var unheard = 0
    /// Most ticks that were due but not yet published at one moment (the publisher falling behind).
    var mostBehind: UInt64 = 0
    /// CPU time of the publisher's thread.
    var threadCPUSeconds = 0.0

    var ticksPerSecond: Double { feed.seconds > 0 ? Double(ticks) / feed.seconds : 0 }
}
