import Broker

/// Ticks read from Redis in one go, handed to the broker before the source reads on.
public struct TickBatch: Sendable, Hashable {
    /// The ticks, in the order Redis delivered them.
    public var ticks: [FedTick]
    /// For stream batches, the id of the last entry covered: journal it and pass it back as
    /// `resumeAfter` to continue exactly after this batch. Nil for pub/sub batches.
    public var streamID: String?

    /// Creates a batch.
    public init(ticks: [FedTick], streamID: String? = nil) {
        self.ticks = ticks
        self.streamID = streamID
    }
}
