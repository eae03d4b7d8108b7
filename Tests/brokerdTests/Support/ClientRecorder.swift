import BrokerClient
import Synchronization

/// Records every state and message of a `BrokerClient`, and waits until they show something.
/// It reads until the client stops, except while held.
final class ClientRecorder: Sendable {
    private let record = Mutex<(states: [ConnectionState], messages: [BrokerMessage])>(([], []))
    private let held = Mutex(false)

    init(_ client: BrokerClient) {
        let states = client.stateUpdates()
        Task { for await state in states { self.record.withLock { $0.states.append(state) } } }
        Task {
            for await message in client.messages {
                while self.held.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(10)) }
                self.record.withLock { $0.messages.append(message) }
            }
        }
    }

    /// Stops reading `messages` (after the one it may be holding) until `release()`: a consumer
    /// that fell behind.
    func hold() { held.withLock { $0 = true } }

    func release() { held.withLock { $0 = false } }

    var states: [ConnectionState] { record.withLock { $0.states } }
    var messages: [BrokerMessage] { record.withLock { $0.messages } }

    /// Waits until `condition` holds for the states and messages so far; fails after `timeout`.
    func waitUntil(
        _ what: String, timeout: Duration = .seconds(30),
        _ condition: (_ states: [ConnectionState], _ messages: [BrokerMessage]) -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        // Checked once more after the deadline, for a task that was not run for a while.
        while true {
            if record.withLock({ condition($0.states, $0.messages) }) { return }
            guard ContinuousClock.now < deadline else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ClientRecorderError.timedOut(waitingFor: what, states: states)
    }
}

enum ClientRecorderError: Error {
    case timedOut(waitingFor: String, states: [ConnectionState])
}

/// Holds a client between reconnection attempts until the test lets it go.
final class ReconnectGate: Sendable {
    private let isOpen = Mutex(false)

    /// A backoff pause that waits for `open()` before the scheduled delay.
    var pause: @Sendable (Duration) async throws -> Void {
        { delay in
            while !self.isOpen.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            try await Task.sleep(for: delay)
        }
    }

    func open() { isOpen.withLock { $0 = true } }
}

extension BrokerMessage {
    /// The news item, if this is one.
    var news: Delivery<NewsItem>? {
        if case .newsUpdate(let delivery) = self { return delivery }
        return nil
    }

    /// The subscription a `subscribed` reply confirms, if this is one.
    var subscribed: Subscription? {
        if case .subscribed(let subscription, _) = self { return subscription }
        return nil
    }

    /// The price update, if this is one.
    var prices: PriceUpdate? {
        if case .priceUpdate(let update) = self { return update }
        return nil
    }
}

extension [BrokerMessage] {
    /// True if some price update has `code` at `price`.
    func containsPrice(_ code: String, _ price: Double) -> Bool {
        contains { $0.prices?.entries.contains { $0.code == code && $0.price == price } ?? false }
    }
}
