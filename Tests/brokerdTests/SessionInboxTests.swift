import Testing

@testable import brokerd

@Suite struct SessionInboxTests {
    /// An inbox whose opening task has finished: idle, as a connection is between messages.
    private func openInbox() -> SessionInbox<Int> {
        var inbox = SessionInbox<Int>()
        guard case .idle = inbox.next() else {
            Issue.record("a new inbox with nothing queued should go idle")
            return inbox
        }
        return inbox
    }

    private func drain(_ inbox: inout SessionInbox<Int>) -> [String] {
        var steps: [String] = []
        while true {
            switch inbox.next() {
            case .frame(let frame): steps.append("frame \(frame)")
            case .end: steps.append("end")
            case .idle: return steps + ["idle"]
            }
        }
    }

    @Test func framesArrivingWhileTheSessionOpensWaitForItInOrder() {
        var inbox = SessionInbox<Int>()
        #expect(inbox.isBusy)
        #expect(inbox.receive(1) == .queued)
        #expect(inbox.receive(2) == .queued)
        #expect(drain(&inbox) == ["frame 1", "frame 2", "idle"])
        #expect(!inbox.isBusy)
    }

    @Test func anIdleInboxHandsAFrameToTheCallerAndQueuesBehindAClaim() {
        var inbox = openInbox()
        #expect(inbox.receive(1) == .workNow)
        #expect(inbox.queued == 0)
        inbox.claim()
        #expect(inbox.receive(2) == .queued)
        #expect(inbox.receive(3) == .queued)
        #expect(drain(&inbox) == ["frame 2", "frame 3", "idle"])
        #expect(inbox.receive(4) == .workNow, "idle again once the task gave the inbox back")
    }

    @Test func endingAnIdleInboxAsksTheCallerToStartATaskThatEndsOnce() {
        var inbox = openInbox()
        let mustStartTask = inbox.end(dropQueued: false)
        #expect(mustStartTask)
        #expect(inbox.isBusy)
        #expect(inbox.receive(1) == .dropped)
        #expect(drain(&inbox) == ["end", "idle"])
        #expect(inbox.isBusy, "an ended inbox never goes idle again")
        let again = inbox.end(dropQueued: true)
        #expect(!again)
        #expect(drain(&inbox) == ["idle"])
    }

    @Test func anEndAfterTheClientLeftComesAfterTheFramesItSentBefore() {
        var inbox = openInbox()
        inbox.claim()
        #expect(inbox.receive(1) == .queued)
        let mustStartTask = inbox.end(dropQueued: false)
        #expect(!mustStartTask, "the owning task ends the session")
        #expect(drain(&inbox) == ["frame 1", "end", "idle"])
    }

    @Test func anEndTheBrokerAsksForDropsWhatIsQueuedAndTheFirstRequestWins() {
        var inbox = openInbox()
        inbox.claim()
        #expect(inbox.receive(1) == .queued)
        #expect(inbox.receive(2) == .queued)
        let first = inbox.end(dropQueued: true)
        let second = inbox.end(dropQueued: false)
        #expect(!first && !second, "the owning task ends the session")
        #expect(inbox.queued == 0)
        #expect(drain(&inbox) == ["end", "idle"])
    }
}
