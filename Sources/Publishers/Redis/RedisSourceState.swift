/// Where one Redis connection of a tick source is in its life.
public enum RedisSourceState: String, Sendable, Hashable, Codable {
    /// Opening the connection (first time, or after a backoff), until it is subscribed or its
    /// first stream read is answered.
    case connecting
    /// Subscribed or reading the stream.
    case connected
    /// Waiting before the next connection attempt after a failure.
    case backingOff
    /// Not running: not started yet, or stopped.
    case stopped
}
