import Synchronization
import Testing

@testable import BrokerClient

/// A token provider is asked for at most the connect timeout, however it behaves.
struct TokenRequestTests {
    @Test func aProviderThatAnswersGivesItsToken() async throws {
        let token = try await TokenRequest.token(from: { "fresh" }, within: .seconds(5))
        #expect(token == "fresh")
    }

    @Test func aProviderThatNeverAnswersTimesOutEvenIfItIgnoresCancellation() async throws {
        // Waited for, the provider would answer "late" after 30 s instead of the timeout's error.
        await #expect(throws: TokenRequest.TimedOut.self) {
            try await TokenRequest.token(
                from: {
                    // Deaf to cancellation (a blocking call inside an SDK, say), for 30 s.
                    for _ in 0..<300 { try? await Task.sleep(for: .milliseconds(100)) }
                    return "late"
                },
                within: .milliseconds(200))
        }
    }

    @Test func aProviderThatFailsPassesItsErrorOn() async {
        struct Refused: Error {}
        await #expect(throws: Refused.self) {
            try await TokenRequest.token(from: { throw Refused() }, within: .seconds(5))
        }
    }

    @Test func cancellingTheClientEndsTheWaitAtOnce() async {
        let asking = Task {
            try await TokenRequest.token(from: { try await Task.sleep(for: .seconds(3600)); return "late" }, within: .seconds(3600))
        }
        try? await Task.sleep(for: .milliseconds(50))
        asking.cancel()
        await #expect(throws: CancellationError.self) { try await asking.value }
    }
}
