import Synchronization

/// Asks a token provider for the next attempt's token, for at most `connectTimeout`: a provider
/// that never answers (a hung request to an auth service) would otherwise hold the client in
/// `connecting` for good. The provider is not waited for past the timeout, even if it ignores
/// cancellation: it is cancelled and left to finish on its own, and what it returns then is dropped.
enum TokenRequest {
    /// The provider did not answer within the timeout.
    struct TimedOut: Error, CustomStringConvertible {
        let timeout: Duration
        var description: String { "no token within \(timeout)" }
    }

    static func token(from provider: @escaping @Sendable () async throws -> String, within timeout: Duration) async throws -> String {
        let outcome = Outcome()
        let asking = Task {
            do {
                outcome.settle(.success(try await provider()))
            } catch {
                outcome.settle(.failure(error))
            }
        }
        let timer = Task {
            guard (try? await Task.sleep(for: timeout)) != nil else { return }
            outcome.settle(.failure(TimedOut(timeout: timeout)))
        }
        defer {
            asking.cancel()
            timer.cancel()
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { outcome.wait($0) }
        } onCancel: {
            outcome.settle(.failure(CancellationError()))
        }
    }

    /// The first of the provider's answer, the timeout and a cancellation, whichever comes first,
    /// handed to the one waiting whether it started waiting before or after.
    private final class Outcome: Sendable {
        private enum State {
            case open
            case waiting(CheckedContinuation<String, any Error>)
            case settled(Result<String, any Error>)
            case done
        }

        private let state = Mutex<State>(.open)

        func wait(_ continuation: CheckedContinuation<String, any Error>) {
            let result = state.withLock { state -> Result<String, any Error>? in
                guard case .settled(let result) = state else {
                    state = .waiting(continuation)
                    return nil
                }
                state = .done
                return result
            }
            if let result { continuation.resume(with: result) }
        }

        func settle(_ result: Result<String, any Error>) {
            let waiting = state.withLock { state -> CheckedContinuation<String, any Error>? in
                switch state {
                case .open:
                    state = .settled(result)
                    return nil
                case .waiting(let continuation):
                    state = .done
                    return continuation
                case .settled, .done:
                    return nil
                }
            }
            waiting?.resume(with: result)
        }
    }
}
