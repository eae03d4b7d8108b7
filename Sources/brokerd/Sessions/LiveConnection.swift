import Broker
import Journal
import Synchronization

/// A WebSocket connection the broker is serving right now: what the fan-out writes to and what
/// `/api/websocket/clients` shows. Session state (subscriptions) lives in the projection.
final class LiveConnection: Sendable {
    let clientID: String
    let user: String?
    let remoteAddress: String?
    let connectedAt: Int64
    let outbox: Outbox
    private let lastActivity: Atomic<Int64>
    private let received = Atomic<UInt64>(0)
    private let closeReason = Mutex<DisconnectReason?>(nil)

    init(clientID: String, user: String?, remoteAddress: String?, outboxCapacity: Int) {
        self.clientID = clientID
        self.user = user
        self.remoteAddress = remoteAddress
        self.connectedAt = WallClock.microsecondsNow()
        self.outbox = Outbox(capacity: outboxCapacity)
        self.lastActivity = Atomic(connectedAt)
    }

    var messagesIn: UInt64 { received.load(ordering: .relaxed) }
    var messagesOut: UInt64 { outbox.sentCount }
    var idleSince: Int64 { lastActivity.load(ordering: .relaxed) }

    /// Records a message from the client (any frame counts for the heartbeat).
    func noteReceived() {
        received.add(1, ordering: .relaxed)
        lastActivity.store(WallClock.microsecondsNow(), ordering: .relaxed)
    }

    /// Why the broker closes this connection, once it decided to; nil while it serves it.
    var requestedClose: DisconnectReason? { closeReason.withLock { $0 } }

    /// Asks the connection to close for `reason`; the first reason wins. The writer sends the close
    /// frame and the session journals the disconnect with this reason.
    func requestClose(_ reason: DisconnectReason) {
        let first = closeReason.withLock { current -> Bool in
            guard current == nil else { return false }
            current = reason
            return true
        }
        if first { outbox.close(discardQueued: reason == .slowConsumer) }
    }
}

/// The connections of this process by client id.
final class ConnectionRegistry: Sendable {
    private let connections = Mutex<[String: LiveConnection]>([:])
    private let opened = Atomic<UInt64>(0)

    var count: Int { connections.withLock { $0.count } }
    var totalOpened: UInt64 { opened.load(ordering: .relaxed) }
    var all: [LiveConnection] { connections.withLock { Array($0.values) } }

    func add(_ connection: LiveConnection) {
        connections.withLock { $0[connection.clientID] = connection }
        opened.add(1, ordering: .relaxed)
    }

    func remove(_ connection: LiveConnection) {
        connections.withLock { map in
            if map[connection.clientID] === connection { map[connection.clientID] = nil }
        }
    }

    subscript(clientID: String) -> LiveConnection? { connections.withLock { $0[clientID] } }

    /// The live connections of `user` (its authenticated user, else its client id).
    func connections(ofUser user: String) -> [LiveConnection] {
        connections.withLock { map in map.values.filter { ($0.user ?? $0.clientID) == user } }
    }

    /// The live connections among `clientIDs`, looked up under one lock.
    func connections(for clientIDs: some Sequence<String>) -> [LiveConnection] {
        connections.withLock { map in clientIDs.compactMap { map[$0] } }
    }
}
