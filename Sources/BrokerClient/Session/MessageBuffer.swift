import Synchronization

/// What the broker sent, waiting for the user's one consumer, at most `capacity` messages.
///
/// A full buffer makes the connection's reader wait, so it stops reading its socket: a consumer
/// that falls behind slows the connection down (the broker merges its price updates and, if it
/// stays behind, closes it as a slow consumer, after which the client resumes) instead of growing
/// the client's memory without limit. A message handed to `push` is never dropped: the resume
/// position already counts it, so the broker would not send it again.
final class MessageBuffer<Element: Sendable>: Sendable {
    let capacity: Int
    private let state: Mutex<State>

    private struct State {
        var elements: [Element] = []
        /// The index of the oldest element in `elements`.
        var head = 0
        /// The consumer waiting for an element, while there is none.
        var consumer: CheckedContinuation<Element?, Never>?
        /// Pushes waiting for room, oldest first, with their elements.
        var producers: [(id: UInt64, element: Element, continuation: CheckedContinuation<Void, Never>)] = []
        var nextProducer: UInt64 = 0
        var finished = false

        var count: Int { elements.count - head }

        mutating func append(_ element: Element) {
            if let consumer {
                self.consumer = nil
                consumer.resume(returning: element)
            } else {
                elements.append(element)
            }
        }

        mutating func popFirst() -> Element? {
            guard head < elements.count else { return nil }
            let first = elements[head]
            head += 1
            if head == elements.count || head >= 1_024 {
                elements.removeFirst(head)
                head = 0
            }
            return first
        }

        /// Moves waiting pushes into the buffer while it has room (all of them once finished).
        mutating func admitProducers(capacity: Int) {
            while let producer = producers.first, finished || count < capacity {
                producers.removeFirst()
                append(producer.element)
                producer.continuation.resume()
            }
        }

        /// Adds the element of a push whose task was cancelled, past the capacity if need be, and
        /// those of the pushes waiting ahead of it, to keep their order.
        mutating func admitCancelled(_ id: UInt64) {
            guard let index = producers.firstIndex(where: { $0.id == id }) else { return }
            for producer in producers[...index] {
                append(producer.element)
                producer.continuation.resume()
            }
            producers.removeFirst(index + 1)
        }
    }

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        state = Mutex(State())
    }

    /// Messages waiting for the consumer (not counting pushes waiting for room).
    var count: Int { state.withLock { $0.count } }

    /// Adds `element`, waiting while the buffer is full; behind every push still waiting. Once
    /// `finish()` was called, or when the task is cancelled, it is added without waiting.
    func push(_ element: Element) async {
        let id = state.withLock { state in
            state.nextProducer += 1
            return state.nextProducer
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { state in
                    if state.producers.isEmpty, state.finished || state.count < capacity {
                        state.append(element)
                        continuation.resume()
                    } else {
                        state.producers.append((id, element, continuation))
                        // Cancelled before it waited: `onCancel` found nothing to admit.
                        if Task.isCancelled { state.admitCancelled(id) }
                    }
                }
            }
        } onCancel: {
            state.withLock { $0.admitCancelled(id) }
        }
    }

    /// The oldest message; nil once the buffer is finished and drained, or when the waiting task
    /// is cancelled.
    func next() async -> Element? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                state.withLock { state in
                    if let first = state.popFirst() {
                        state.admitProducers(capacity: capacity)
                        continuation.resume(returning: first)
                    } else if state.finished || Task.isCancelled {
                        continuation.resume(returning: nil)
                    } else {
                        precondition(state.consumer == nil, "BrokerClient.messages has one consumer at a time")
                        state.consumer = continuation
                    }
                }
            }
        } onCancel: {
            state.withLock { state in
                state.consumer?.resume(returning: nil)
                state.consumer = nil
            }
        }
    }

    /// No more pushes are waited for: waiting ones are admitted, and the consumer gets nil once
    /// it has read everything.
    func finish() {
        state.withLock { state in
            state.finished = true
            state.admitProducers(capacity: capacity)
            if state.count == 0, let consumer = state.consumer {
                state.consumer = nil
                consumer.resume(returning: nil)
            }
        }
    }
}
