import Broker
import Journal
import NIOCore
import Metrics
import NIOWebSocket
import Synchronization

/// A WebSocket connection the broker is serving right now: what the fan-out writes to and what
/// `/api/websocket/clients` shows. Session state (subscriptions) lives in the projection.
final class LiveConnection: Sendable {
    let clientID: String
    let user: String?
    let remoteAddress: String?
    let connectedAt: Int64
    /// When the client's token expires (UTC microseconds), `Int64.min` without auth.
    private let tokenExpiry: Atomic<Int64>
    /// What the client's token allows it to subscribe to; nil: everything.
    private let tokenAllowList: Mutex<SubscriptionAllowList?>
    let writer: ConnectionWriter
    private let lastActivity: Atomic<Int64>
    private let received = Atomic<UInt64>(0)
    private let closeReason = Mutex<DisconnectReason?>(nil)
    private let sessionEnding = Atomic<Bool>(false)
    private let onSlowConsumer: @Sendable (LiveConnection) -> Void

    init(
        clientID: String, user: String?, remoteAddress: String?, tokenExpiresAt: Int64? = nil,
        allowList: SubscriptionAllowList? = nil, writer: ConnectionWriter,
        onSlowConsumer: @escaping @Sendable (LiveConnection) -> Void = { _ in }
    ) {
        self.clientID = clientID
        self.user = user
        self.tokenExpiry = Atomic(tokenExpiresAt ?? .min)
        self.tokenAllowList = Mutex(allowList)
        self.remoteAddress = remoteAddress
        self.connectedAt = WallClock.microsecondsNow()
        self.writer = writer
        self.onSlowConsumer = onSlowConsumer
        self.lastActivity = Atomic(ElapsedClock.microsecondsNow())
    }

    /// When the client's token expires (UTC microseconds); the broker closes the connection then.
    /// Nil without auth.
    var tokenExpiresAt: Int64? {
        let expiry = tokenExpiry.load(ordering: .relaxed)
        return expiry == .min ? nil : expiry
    }

    /// What the client's token allows it to subscribe to; nil: everything.
    var allowList: SubscriptionAllowList? { tokenAllowList.withLock { $0 } }

    /// Takes a refreshed token of the connection's user: its expiry and allow-list from now on.
    func adopt(_ identity: ClientIdentity) {
        tokenAllowList.withLock { $0 = identity.allowList }
        tokenExpiry.store(identity.expiresAt ?? .min, ordering: .relaxed)
    }

    var messagesIn: UInt64 { received.load(ordering: .relaxed) }
    /// Messages taken in from every connection since the process started, the closed ones too.
    static var messagesInSinceStart: UInt64 { receivedByAll.load(ordering: .relaxed) }
    private static let receivedByAll = Atomic<UInt64>(0)
    var messagesOut: UInt64 { writer.sentCount }
    var queueDepth: Int { writer.depth }
    /// When the client last sent a frame, on `ElapsedClock` (not a wall time).
    var idleSince: Int64 { lastActivity.load(ordering: .relaxed) }

    /// Records a message from the client, once it is taken in.
    func noteReceived() {
        received.add(1, ordering: .relaxed)
        Self.receivedByAll.add(1, ordering: .relaxed)
        noteActivity()
    }

    /// Records that the client sent a frame, as it is read: any frame, control frames included,
    /// counts for the heartbeat, and a frame waiting behind a slow store call counts already.
    func noteActivity() {
        lastActivity.store(ElapsedClock.microsecondsNow(), ordering: .relaxed)
    }

    /// Sends a message that must arrive (a reply, an error, a catch-up message), after everything
    /// sent or pushed to this connection before it (it takes the fan-out's path, see `LoopFanOut`).
    func send(_ message: ByteBuffer) {
        writer.fanOut.push(message: message, type: "reply", to: [self])
    }

    /// Handles the outcome of queueing a message; call on the writer's event loop.
    func accept(_ pushed: OutboxQueue.Pushed) {
        guard pushed == .overflow else { return }
        closeAsSlowConsumer()
    }

    /// Closes the connection as a slow consumer (its queue overflowed, or its socket took nothing
    /// for too long), unless it is closing already.
    func closeAsSlowConsumer() {
        if requestClose(.slowConsumer) { onSlowConsumer(self) }
    }

    /// Why the broker closes this connection, once it decided to; nil while it serves it.
    var requestedClose: DisconnectReason? { closeReason.withLock { $0 } }

    /// Whether what is sent now can still reach the client: its socket is open and the broker has
    /// not decided to close it (a slow consumer's socket stays open a while for its close frame).
    var isReachable: Bool { writer.isConnected && requestedClose == nil }

    /// Asks the connection to close for `reason`; the first reason wins (returns whether this one
    /// did). The writer sends what is queued (nothing for a slow consumer) and the close frame; the
    /// session journals the disconnect with this reason. `atOnce`: what is queued is dropped and
    /// the socket closed right behind the close frame, without waiting for the client's answer.
    @discardableResult
    func requestClose(_ reason: DisconnectReason, atOnce: Bool = false) -> Bool {
        let first = closeReason.withLock { current -> Bool in
            guard current == nil else { return false }
            current = reason
            return true
        }
        guard first else { return false }
        if atOnce || reason == .replaced {
            // Without waiting for the close to be answered: a replaced connection's client is on a
            // new one, and this one may lead nowhere (what is queued goes with the resume).
            writer.close(reason.closeCode, reason: reason.rawValue, discardQueued: true, then: .closeSocketNow)
        } else if reason == .slowConsumer {
            // At once: what is queued for it is dropped anyway.
            writer.close(reason.closeCode, reason: reason.rawValue, discardQueued: true)
        } else {
            // Behind what was sent to it before (an error explaining why, a round of prices).
            writer.fanOut.close(self, code: reason.closeCode, reason: reason.rawValue)
        }
        return true
    }

    /// Closes the connection because an operator asked to (`DELETE /api/websocket/clients/…`):
    /// at once, with 1008 `kicked`, so a client that stopped reading goes too. `endingSession`: its
    /// disconnect is journaled with no resume window left (`endsSession`), so no resume can slip
    /// in before the session is expired. Returns whether this closed it (false: it was closing
    /// already, for another reason).
    @discardableResult
    func kick(endingSession: Bool) -> Bool {
        // Before the close is claimed: the session's end reads it once the close is under way.
        if endingSession { sessionEnding.store(true, ordering: .releasing) }
        return requestClose(.kicked, atOnce: true)
    }

    /// Whether the session ends with this connection (an operator's kick asked for it): its
    /// disconnect leaves no resume window.
    var endsSession: Bool { sessionEnding.load(ordering: .acquiring) }

    /// The session is over (the client left or was closed): write what is left, take nothing more.
    func finish() {
        writer.fanOut.close(self, code: nil, reason: "")
    }
}

extension DisconnectReason {
    /// The WebSocket close code the client sees when the broker closes for this reason.
    var closeCode: WebSocketErrorCode {
        switch self {
        case .slowConsumer, .kicked, .tokenExpired: .policyViolation
        default: .goingAway
        }
    }
}

/// The connections of this process by client id.
final class ConnectionRegistry: Sendable {
    private let connections = Mutex<[String: LiveConnection]>([:])
    private let changes = Atomic<UInt64>(0)
    private let opened = Atomic<UInt64>(0)
    private let openedCounter = Counter(label: "brokerd_connections_opened_total")

    var count: Int { connections.withLock { $0.count } }
    var totalOpened: UInt64 { opened.load(ordering: .relaxed) }
    var all: [LiveConnection] { connections.withLock { Array($0.values) } }
    /// Counts additions and removals: while it stays the same, so do lookups by client id.
    var generation: UInt64 { changes.load(ordering: .acquiring) }

    func add(_ connection: LiveConnection) {
        connections.withLock {
            $0[connection.clientID] = connection
            changes.add(1, ordering: .releasing)
        }
        opened.add(1, ordering: .relaxed)
        openedCounter.increment()
    }

    func remove(_ connection: LiveConnection) {
        connections.withLock { map in
            guard map[connection.clientID] === connection else { return }
            map[connection.clientID] = nil
            changes.add(1, ordering: .releasing)
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
