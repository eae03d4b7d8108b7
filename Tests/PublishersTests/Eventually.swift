import Synchronization

/// Thrown when a condition did not come true before the deadline.
struct Timeout: Error, CustomStringConvertible {
    var description: String
}

/// Polls `condition` until it holds; fails after a generous deadline instead of asserting a duration.
func eventually(
    _ what: String, within limit: Duration = .seconds(20), _ condition: () throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + limit
    // Checked once more after the deadline: a task that was not run for a while (a loaded
    // machine) must not fail for a condition that came true meanwhile.
    while true {
        if try condition() { return }
        guard ContinuousClock.now < deadline else { break }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw Timeout(description: "gave up waiting for: \(what)")
}

/// Runs `operation`, failing if it has not returned after a generous deadline (a hang, not slowness).
/// The operation runs in a task of its own, so a hang fails the test instead of hanging the run.
func finishes(_ what: String, within limit: Duration = .seconds(20), _ operation: @escaping @Sendable () async -> Void) async throws {
    let flag = Flag()
    Task {
        await operation()
        flag.set()
    }
    try await eventually("\(what) to return", within: limit) { flag.isSet }
}

/// A flag that is set once, read from any task or thread.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
