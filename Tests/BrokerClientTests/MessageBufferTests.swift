import Synchronization
import Testing

@testable import BrokerClient

/// The user's messages: bounded, in order, none dropped.
struct MessageBufferTests {
    /// How many pushes returned.
    private final class Pushed: Sendable {
        private let count = Atomic(0)
        func add() { count.add(1, ordering: .relaxed) }
        var value: Int { count.load(ordering: .relaxed) }
    }

    /// Runs `push` for `values` one after another in a task; returns the task and how many returned.
    private func pushing(_ values: [Int], into buffer: MessageBuffer<Int>) -> (Task<Void, Never>, Pushed) {
        let pushed = Pushed()
        let task = Task {
            for value in values {
                await buffer.push(value)
                pushed.add()
            }
        }
        return (task, pushed)
    }

    /// Waits (briefly, by yielding) until `condition` holds; the tests' pushes need no more than that.
    private func settle(until condition: () -> Bool) async {
        for _ in 0..<10_000 where !condition() { await Task.yield() }
    }

    @Test func aFullBufferMakesThePushWaitUntilTheConsumerTakesOne() async {
        let buffer = MessageBuffer<Int>(capacity: 3)
        let (task, pushed) = pushing(Array(1...5), into: buffer)
        await settle { pushed.value == 3 }
        for _ in 0..<100 { await Task.yield() }
        #expect(pushed.value == 3, "the fourth push waits")
        #expect(buffer.count == 3)

        #expect(await buffer.next() == 1)
        await settle { pushed.value == 4 }
        #expect(pushed.value == 4)
        #expect(buffer.count == 3)

        var rest: [Int] = []
        for _ in 0..<4 { rest.append(await buffer.next() ?? -1) }
        #expect(rest == [2, 3, 4, 5])
        await task.value
    }

    @Test func aConsumerWaitingForAMessageGetsTheNextPush() async {
        let buffer = MessageBuffer<String>(capacity: 1)
        let consumer = Task { await buffer.next() }
        for _ in 0..<100 { await Task.yield() }
        await buffer.push("price_update")
        #expect(await consumer.value == "price_update")
        #expect(buffer.count == 0)
    }

    @Test func aCancelledPushStillAddsItsMessageInOrder() async {
        let buffer = MessageBuffer<Int>(capacity: 2)
        await buffer.push(1)
        await buffer.push(2)
        let (task, pushed) = pushing([3, 4], into: buffer)
        for _ in 0..<100 { await Task.yield() }
        #expect(pushed.value == 0)
        task.cancel()
        await task.value
        #expect(pushed.value == 2, "both pushes returned")
        #expect(buffer.count == 4, "over the capacity rather than dropped")
        var read: [Int] = []
        for _ in 0..<4 { read.append(await buffer.next() ?? -1) }
        #expect(read == [1, 2, 3, 4])
    }

    @Test(.timeLimit(.minutes(1))) func aPushIntoAFullBufferFromACancelledTaskAddsAtOnce() async {
        let buffer = MessageBuffer<Int>(capacity: 1)
        await buffer.push(1)
        await Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await buffer.push(2)
        }.value
        #expect(buffer.count == 2)
        #expect(await buffer.next() == 1)
        #expect(await buffer.next() == 2)
    }

    @Test func finishingLetsTheConsumerDrainThenEnds() async {
        let buffer = MessageBuffer<Int>(capacity: 1)
        await buffer.push(1)
        let (task, _) = pushing([2], into: buffer)
        for _ in 0..<100 { await Task.yield() }
        buffer.finish()
        await task.value
        #expect(await buffer.next() == 1)
        #expect(await buffer.next() == 2)
        #expect(await buffer.next() == nil)
        #expect(await buffer.next() == nil)
    }

    @Test func finishingWakesAWaitingConsumer() async {
        let buffer = MessageBuffer<Int>(capacity: 4)
        let consumer = Task { await buffer.next() }
        for _ in 0..<100 { await Task.yield() }
        buffer.finish()
        #expect(await consumer.value == nil)
    }

    @Test func aCancelledConsumerGetsNilAndTheMessagesStay() async {
        let buffer = MessageBuffer<Int>(capacity: 4)
        let consumer = Task { await buffer.next() }
        for _ in 0..<100 { await Task.yield() }
        consumer.cancel()
        #expect(await consumer.value == nil)
        await buffer.push(7)
        #expect(await buffer.next() == 7)
    }
}
