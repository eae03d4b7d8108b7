import Broker

/// Where ticks come from (the simulator, Redis, …): runs until cancelled and hands every batch to
/// `deliver`, awaiting it before producing more, so a busy broker slows the source down.
public protocol TickSource: Sendable {
    /// Name for logs and stats.
    var name: String { get }
    /// Produces ticks until the task is cancelled.
    func run(deliver: @escaping @Sendable ([PriceTick]) async throws -> Void) async throws
}
