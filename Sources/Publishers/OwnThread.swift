import Synchronization

/// Runs `body` on a thread of its own and returns what it returns: for blocking work, such as
/// reading the journal, that must not occupy Swift's cooperative pool.
func runOnOwnThread<T: Sendable>(name: String = "brokerd.blocking", _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        ReaderThreadControl.spawn(name: name) { continuation.resume(with: Result { try body() }) }
    }
}

/// `runOnOwnThread` for work that can stop part-way: `body` is handed a check of whether the
/// calling task was cancelled (a shutdown), to look at between steps and throw `CancellationError`.
func runOnOwnThread<T: Sendable>(
    name: String = "brokerd.blocking", cancellable body: @escaping @Sendable (_ isCancelled: @Sendable () -> Bool) throws -> T
) async throws -> T {
    let cancelled = OnceFlag()
    return try await withTaskCancellationHandler {
        try await runOnOwnThread(name: name) { try body { cancelled.isSet } }
    } onCancel: {
        cancelled.set()
    }
}

/// A flag set once, read from any thread or task.
public final class OnceFlag: Sendable {
    private let value = Atomic(false)
    public init() {}
    public var isSet: Bool { value.load(ordering: .acquiring) }
    public func set() { value.store(true, ordering: .releasing) }
}
