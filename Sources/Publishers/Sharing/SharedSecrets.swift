import Synchronization

/// How a node signs what it shares and checks what it reads (`redis_secret`,
/// `redis_secret_required`, `redis_secret_accepted`), replaced as a whole when the configuration
/// is reloaded: turning signing on and rotating the secret take reloads, not restarts. The
/// publisher signs each batch, and the readers check each message, with the settings of the moment.
public final class SharedSecrets: Sendable, Hashable {
    /// The settings of one moment.
    public struct Current: Sendable {
        /// Signs and checks with the secret (and the one accepted besides it); nil without a
        /// secret: nothing is signed, and messages are taken as they come.
        public let signer: SharedMessageSigner?
        /// With a secret: whether a node's word must be signed (and stamped); false also takes
        /// it unsigned, while a cluster turns signing on.
        public let requiresSignatures: Bool
    }

    private let current: Mutex<Current>

    /// Signing with `secret` (none: no signing), requiring signatures or not, and taking those
    /// made with `accepting` too.
    public init(secret: String? = nil, required: Bool = true, accepting: [String] = []) {
        current = Mutex(Self.settings(secret: secret, required: required, accepting: accepting))
    }

    /// The settings now.
    public var now: Current { current.withLock { $0 } }

    /// Replaces the settings: what is signed and checked from now on.
    public func replace(secret: String?, required: Bool, accepting: [String]) {
        let next = Self.settings(secret: secret, required: required, accepting: accepting)
        current.withLock { $0 = next }
    }

    /// The same settings are the same object: they change in place.
    public static func == (lhs: SharedSecrets, rhs: SharedSecrets) -> Bool { lhs === rhs }

    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    private static func settings(secret: String?, required: Bool, accepting: [String]) -> Current {
        Current(signer: secret.map { SharedMessageSigner(secret: $0, accepting: accepting) }, requiresSignatures: required)
    }
}
