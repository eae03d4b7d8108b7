import Synchronization

/// Signals once, however often it is called: "this client is settled" (subscribed, refused or gone).
final class SettleSignal: Sendable {
    private let signalled = Mutex(false)
    private let continuation: AsyncStream<Void>.Continuation

    init(_ continuation: AsyncStream<Void>.Continuation) {
        self.continuation = continuation
    }

    func signal() {
        let first = signalled.withLock { signalled in
            defer { signalled = true }
            return !signalled
        }
        if first { continuation.yield() }
    }
}
