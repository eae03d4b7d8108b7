import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Lets other threads stop a reader thread that is blocked inside hiredis, and wait for it to end;
/// or make it end its connection and open another (`requestReconnect()`: the address moved).
///
/// hiredis' blocking calls cannot be cancelled; `shutdown(fd, SHUT_RDWR)` from another thread makes
/// them return with an error. The descriptor is only shut down while the reader has it attached,
/// and the reader detaches it under the same lock before closing it, so a stop can never hit a
/// descriptor number that was already reused by someone else.
final class ReaderThreadControl: Sendable {
    private struct State {
        var stopping = false
        /// A reconnect was asked for since the reader last took the request.
        var reconnecting = false
        var descriptor: Int32?
        var finished = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// Wakes the reader from a backoff sleep early when it is told to stop.
    private let wakeup = DispatchSemaphore(value: 0)

    /// Runs `body` on a new thread of its own, so its blocking reads never occupy Swift's
    /// cooperative pool or an event loop.
    static func spawn(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }

    /// Whether `requestStop()` was called.
    var isStopping: Bool { state.withLock { $0.stopping } }

    /// Registers the reader's connected socket; false (and nothing registered) when already
    /// stopping, or when a reconnect was asked for since the reader took the last request: the
    /// socket may lead to the old address, and the reader's session ends to open another.
    func attach(_ descriptor: Int32) -> Bool {
        state.withLock { state in
            guard !state.stopping, !state.reconnecting else { return false }
            state.descriptor = descriptor
            return true
        }
    }

    /// Unregisters the socket; call before closing it.
    func detach() {
        state.withLock { $0.descriptor = nil }
    }

    /// Tells the reader to end: interrupts a blocked read and an ongoing backoff sleep.
    func requestStop() {
        interrupt { $0.stopping = true }
    }

    /// Tells the reader to end its connection and open another: interrupts a blocked read (the
    /// session fails) and a backoff sleep. The reader finds the request with `takeReconnectRequest()`.
    func requestReconnect() {
        interrupt { $0.reconnecting = true }
    }

    /// Notes the request (unless stopping already), shuts the attached socket down and wakes a sleep.
    private func interrupt(_ request: (inout State) -> Void) {
        state.withLock { state in
            guard !state.stopping else { return }
            request(&state)
            if let descriptor = state.descriptor { _ = shutdown(descriptor, Int32(SHUT_RDWR)) }
        }
        wakeup.signal()
    }

    /// Whether a reconnect was asked for and not taken yet (`takeReconnectRequest()` takes it).
    var hasReconnectRequest: Bool { state.withLock { $0.reconnecting } }

    /// Whether a reconnect was asked for since the last call, which takes the request. Call before
    /// each session opens its connection, and when one fails (then it failed for the request).
    func takeReconnectRequest() -> Bool {
        state.withLock { state in
            defer { state.reconnecting = false }
            return state.reconnecting
        }
    }

    /// Sleeps for `duration` unless told to stop first; returns false when stopping.
    func sleep(for duration: Duration) -> Bool {
        guard !isStopping else { return false }
        let (seconds, attoseconds) = duration.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        _ = wakeup.wait(timeout: .now() + .nanoseconds(nanoseconds))
        return !isStopping
    }

    /// Called by the reader as its last act; resumes everyone waiting in `waitUntilFinished()`.
    func finish() {
        let waiters = state.withLock { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Suspends (without blocking a thread) until the reader has called `finish()`.
    func waitUntilFinished() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyFinished = state.withLock { state in
                if state.finished { return true }
                state.waiters.append(continuation)
                return false
            }
            if alreadyFinished { continuation.resume() }
        }
    }
}
