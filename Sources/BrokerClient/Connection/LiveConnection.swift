import Synchronization

/// One connection attempt: its send queue, its heartbeat and where it reports how it went.
final class LiveConnection: Sendable {
    /// What an attempt reports to the reconnect loop; the first `ended` decides.
    enum Event: Sendable {
        case opened
        case ended(ConnectionLoss)
    }

    let commands: AsyncStream<IdentifiedCommand>
    private let commandSink: AsyncStream<IdentifiedCommand>.Continuation
    let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    let heartbeat: Mutex<HeartbeatMonitor>
    private let opened = Mutex(false)

    init(pingInterval: Duration, pongTimeout: Duration) {
        (commands, commandSink) = AsyncStream.makeStream()
        (events, eventSink) = AsyncStream.makeStream()
        heartbeat = Mutex(HeartbeatMonitor(pingInterval: pingInterval, pongTimeout: pongTimeout, start: .now))
    }

    /// True once the broker's `connected` came in.
    var isOpened: Bool { opened.withLock { $0 } }

    /// Queues `command` for the socket.
    func send(_ command: IdentifiedCommand) {
        commandSink.yield(command)
    }

    /// The broker opened a session on this connection.
    func reportOpened() {
        opened.withLock { $0 = true }
        eventSink.yield(.opened)
    }

    /// The connection is over (or could not be opened) because of `loss`.
    func reportEnded(_ loss: ConnectionLoss) {
        eventSink.yield(.ended(loss))
    }

    /// Stops the send queue and the reports, once the reconnect loop is done with this attempt.
    func close() {
        commandSink.finish()
        eventSink.finish()
    }
}
