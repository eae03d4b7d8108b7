/// Payload of `source_advanced`: how far a tick source has been read, journaled in the same commit
/// as the ticks it delivered, so a restart resumes right after them (no gap, no duplicate).
public struct SourceAdvanced: Sendable, Hashable, Codable {
    /// The source (`redis-stream:ticks`).
    public var source: String
    /// Its position after the batch (a Redis stream entry id).
    public var position: String

    /// Creates the payload.
    public init(source: String, position: String) {
        self.source = source
        self.position = position
    }
}
