import Synchronization

/// Where the broker's Redis connections go: the address they started with, and another after a
/// reload moves them (`move(to:)`: a replica promoted after a failover, Redis moved to another
/// host). Each connection takes the address when it connects; a move ends those open so that they
/// connect again to the new one at once, with no restart and no WebSocket client dropped.
///
/// Shared by everything that talks to Redis (the readers, the publisher to the other nodes, the
/// K-line cache), so one reload moves them all. Identity decides equality, as for `SharedSecrets`.
public final class RedisAddress: Sendable, Hashable, CustomStringConvertible {
    private struct State {
        var url: RedisURL
        /// How many moves led to `url`: a connection opened at an older count is stale.
        var moves: UInt64 = 0
        var listeners: [@Sendable () -> Void] = []
    }

    private let state: Mutex<State>

    /// An address at `url`, not moved yet.
    public init(_ url: RedisURL) {
        state = Mutex(State(url: url))
    }

    /// The address now.
    public var url: RedisURL { state.withLock { $0.url } }

    /// The address now, and how many moves led to it (compare with `moves` later to tell a
    /// connection made before a move).
    public var current: (url: RedisURL, moves: UInt64) { state.withLock { ($0.url, $0.moves) } }

    /// How many times the address moved.
    public var moves: UInt64 { state.withLock { $0.moves } }

    /// Moves the connections to `url`: every listener (`onMove`) is told, on this thread. False,
    /// and nothing happens, when `url` is the address already.
    @discardableResult
    public func move(to url: RedisURL) -> Bool {
        let listeners = state.withLock { state -> [@Sendable () -> Void]? in
            guard state.url != url else { return nil }
            state.url = url
            state.moves += 1
            return state.listeners
        }
        guard let listeners else { return false }
        for listener in listeners { listener() }
        return true
    }

    /// Calls `listener` after every move, on the mover's thread: it must only wake its connection's
    /// owner (shut a socket down, signal a semaphore), never wait.
    func onMove(_ listener: @escaping @Sendable () -> Void) {
        state.withLock { $0.listeners.append(listener) }
    }

    /// The address without its password (`RedisURL.description`).
    public var description: String { url.description }

    public static func == (lhs: RedisAddress, rhs: RedisAddress) -> Bool { lhs === rhs }

    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
