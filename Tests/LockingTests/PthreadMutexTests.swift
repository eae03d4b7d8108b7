import Dispatch
import Locking
import Synchronization
import Testing

/// The lock `scripts/tsan` builds put in place of `Synchronization.Mutex` must behave as one:
/// exclusive, giving back what the body returns and throwing what it throws.
struct PthreadMutexTests {
    @Test func noTwoThreadsAreEverInsideAtOnce() {
        let counter = PthreadMutex(0)
        let inside = Atomic(0)
        let overlaps = Atomic(0)
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            for _ in 0..<2_000 {
                counter.withLock { count in
                    if inside.add(1, ordering: .relaxed).newValue > 1 { overlaps.add(1, ordering: .relaxed) }
                    // Long enough for another thread to come in, were the lock not held.
                    for _ in 0..<50 { count &+= 1 }
                    inside.subtract(1, ordering: .relaxed)
                }
            }
        }
        #expect(overlaps.load(ordering: .relaxed) == 0)
        #expect(counter.withLock { $0 } == 4 * 2_000 * 50)
    }

    @Test func theBodysResultIsReturnedAndItsErrorThrownWithTheValueAsTheBodyLeftIt() {
        struct Refused: Error, Equatable {}
        let list = PthreadMutex([1, 2])
        #expect(list.withLock { list -> Int in
            list.append(3)
            return list.count
        } == 3)
        #expect(throws: Refused()) {
            try list.withLock { (list: inout [Int]) throws(Refused) in
                list.append(4)
                throw Refused()
            }
        }
        #expect(list.withLock { $0 } == [1, 2, 3, 4])
    }
}
