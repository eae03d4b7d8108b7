import Testing

@testable import brokerd

/// How many of a stopping broker's clients are closed so far, over `shutdown_drain`.
struct DrainScheduleTests {
    @Test func clientsAreClosedEvenlyTheFirstAtOnceTheLastAtTheEnd() {
        let schedule = DrainSchedule(total: 10, period: .seconds(5))
        #expect(schedule.due(after: .zero) == 1)
        #expect(schedule.due(after: .milliseconds(499)) == 1)
        #expect(schedule.due(after: .milliseconds(501)) == 2)
        #expect(schedule.due(after: .milliseconds(2_500)) == 5)
        #expect(schedule.due(after: .milliseconds(4_999)) == 10)
        #expect(schedule.due(after: .seconds(5)) == 10)
        #expect(schedule.due(after: .seconds(60)) == 10)
        // Never fewer as time goes on, never more than there are.
        var last = 0
        for step in 0...600 {
            let due = schedule.due(after: .milliseconds(step * 10))
            #expect(due >= last && due <= 10)
            last = due
        }
    }

    @Test func moreClientsThanStepsAndNoneAtAll() {
        let many = DrainSchedule(total: 10_000, period: .seconds(10))
        #expect(many.due(after: .milliseconds(20)) == 20)
        #expect(many.due(after: .seconds(5)) == 5_000)
        #expect(DrainSchedule(total: 0, period: .seconds(10)).due(after: .zero) == 0)
        #expect(DrainSchedule(total: 3, period: .zero).due(after: .zero) == 3, "no period: all at once")
    }
}
