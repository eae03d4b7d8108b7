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
    /// When the last frame went out to the broker; nil before the first.
    private let lastSent = Mutex<ContinuousClock.Instant?>(nil)

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

    /// A frame was written to the socket now.
    func noteSent() {
        lastSent.withLock { $0 = .now }
    }

    /// When the last frame was written to the socket; nil when none was.
    var lastSentAt: ContinuousClock.Instant? { lastSent.withLock { $0 } }

    /// The broker opened a session on this connection.
    func reportOpened() {
        opened.withLock { opened in
            opened = true
            eventSink.yield(.opened)
        }
    }

    /// The connect timeout ran out: ends the attempt unless the session opened first. Checked and
    /// reported under one lock with `reportOpened`: a session that opened just as the timer fired,
    /// before the reconnect loop had taken `.opened` and stopped the timer, was ended as
    /// `connectTimedOut` (seen on a loaded machine with a 1 s connect timeout).
    func reportConnectTimedOut() {
        opened.withLock { opened in
            if !opened { eventSink.yield(.ended(.connectTimedOut)) }
        }
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
