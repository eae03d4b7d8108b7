import Foundation
import Synchronization
import Testing

@testable import brokerbench

/// The load tool's client threads run under `SCHED_BATCH` by default; the broker and every other
/// thread keep the normal policy.
struct ClientSchedulingTests {
    private static let schedOther: Int32 = 0
    private static let schedBatch: Int32 = 3

    /// Runs `body` on a thread of its own (a test must not change a shared pool thread's policy) and
    /// returns the policies that thread had before and after.
    private func policies(applying scheduling: ClientScheduling) -> (before: Int32, after: Int32) {
        let result = Mutex((before: Int32(-1), after: Int32(-1)))
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let before = sched_getscheduler(0)
            scheduling.applyOrWarn()
            result.withLock { $0 = (before, sched_getscheduler(0)) }
            done.signal()
        }
        thread.start()
        done.wait()
        return result.withLock { $0 }
    }

    @Test func batchPutsTheCallingThreadUnderSchedBatch() {
        let (before, after) = policies(applying: .batch)
        #expect(before == Self.schedOther)
        #expect(after == Self.schedBatch)
    }

    @Test func normalLeavesTheThreadAsItWas() {
        let (before, after) = policies(applying: .normal)
        #expect(before == Self.schedOther)
        #expect(after == Self.schedOther)
    }

    @Test func onlyTheCallingThreadChanges() {
        _ = policies(applying: .batch)
        // Neither this thread nor a new one inherits the policy another thread took.
        #expect(sched_getscheduler(0) == Self.schedOther)
        #expect(policies(applying: .normal).before == Self.schedOther)
    }
}

/// Send times of tick ids, as the feeder records them and the clients look them up.
struct SendTimeTableTests {
    @Test func looksUpTheTimeOfEachRecordedIdAndZeroForOthers() {
        let table = SendTimeTable(expectedTicks: 4)
        table.record(1...3, sentAt: 100)
        table.record(4...4, sentAt: 200)
        var sentAt: [UInt64] = [9]
        table.lookUp([4, 1, 3, 5, 0, .max], into: &sentAt)
        #expect(sentAt == [200, 100, 100, 0, 0, 0])
    }
}
