/// Runs `body` on a thread of its own and returns what it returns: for blocking work, such as
/// reading the journal, that must not occupy Swift's cooperative pool.
func runOnOwnThread<T: Sendable>(name: String = "brokerd.blocking", _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        ReaderThreadControl.spawn(name: name) { continuation.resume(with: Result { try body() }) }
    }
}
