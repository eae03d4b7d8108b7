/// Which brokerd process published a message on the shared channels.
///
/// `node` is the operator's `node_id`; a node skips messages carrying its own. `instance` is random
/// per process, so two processes configured with the same node id are told apart and reported
/// instead of silently ignoring each other.
public struct NodeOrigin: Sendable, Hashable {
    /// The publishing node's `node_id`.
    public var node: String
    /// Random per process start.
    public var instance: String

    /// An origin for `node`; by default a fresh instance id.
    public init(node: String, instance: String = NodeOrigin.newInstanceID()) {
        self.node = node
        self.instance = instance
    }

    /// 16 random hex digits.
    public static func newInstanceID() -> String {
        let hex = String(UInt64.random(in: .min ... .max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
