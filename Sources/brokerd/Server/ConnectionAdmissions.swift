import Synchronization

/// WebSocket connections admitted and not yet closed, held to `max_clients`.
///
/// A slot is taken when an upgrade is accepted, before its session opens (token check, journal
/// commit), and given back when its channel closes. Counting registered sessions instead let a
/// burst of upgrades — every client reconnecting after a restart — pass the limit while the
/// earlier ones were still opening.
final class ConnectionAdmissions: Sendable {
    let limit: Int
    private let admitted = Atomic(0)
    /// The connections holding a slot taken with `admit(_:)`.
    private let holders = Mutex<Set<ObjectIdentifier>>([])

    init(limit: Int) {
        self.limit = limit
    }

    /// Connections holding a slot.
    var count: Int { admitted.load(ordering: .relaxed) }

    /// Takes a slot; false when all `limit` are taken.
    func admit() -> Bool {
        var current = admitted.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = admitted.compareExchange(
                expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }

    /// Gives a slot back; once per successful `admit()`.
    func release() {
        admitted.subtract(1, ordering: .relaxed)
    }

    /// Takes a slot for the connection `holder`; false when all `limit` are taken.
    func admit(_ holder: ObjectIdentifier) -> Bool {
        guard admit() else { return false }
        holders.withLock { _ = $0.insert(holder) }
        return true
    }

    /// Gives back the slot of `holder`, if it still holds one: when its channel closes, or as soon
    /// as its session is refused (a token refused: the close that follows may take seconds, and
    /// clients with no token could hold every slot meanwhile).
    func release(_ holder: ObjectIdentifier) {
        if holders.withLock({ $0.remove(holder) != nil }) { release() }
    }
}
