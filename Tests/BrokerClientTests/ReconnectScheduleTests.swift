import Testing
@testable import BrokerClient

/// The waits between reconnection attempts: 2 s, 4 s, 8 s…, capped, jittered, limited.
struct ReconnectScheduleTests {
    @Test func unjitteredDelaysDoubleFromTwoSecondsUpToTheCap() {
        let schedule = ReconnectSchedule()
        let delays = (1...7).map { schedule.delay(beforeAttempt: $0, random: 0.5) }
        #expect(delays == [2, 4, 8, 16, 30, 30, 30].map { Duration.seconds($0) })
    }

    @Test func jitterSpreadsADelayAroundItsStep() throws {
        let schedule = ReconnectSchedule(jitter: 0.2)
        #expect(schedule.delay(beforeAttempt: 2, random: 0) == .milliseconds(3200))
        #expect(schedule.delay(beforeAttempt: 2, random: 1) == .milliseconds(4800))
    }

    @Test func jitterNeverExceedsTheCap() {
        let schedule = ReconnectSchedule(jitter: 0.5)
        #expect(schedule.delay(beforeAttempt: 8, random: 1) == .seconds(30))
        #expect(schedule.delay(beforeAttempt: 8, random: 0) == .seconds(15))
    }

    @Test func aGeneratorJittersWithinTheSpread() {
        let schedule = ReconnectSchedule(initialDelay: .milliseconds(100), jitter: 0.2)
        var generator = SystemRandomNumberGenerator()
        let delays = (0..<100).compactMap { _ in schedule.delay(beforeAttempt: 1, using: &generator) }
        #expect(delays.count == 100)
        #expect(delays.allSatisfy { $0 >= .milliseconds(80) && $0 <= .milliseconds(120) })
        #expect(Set(delays).count > 1)
    }

    @Test func afterTheLastAllowedAttemptThereIsNoDelay() {
        let schedule = ReconnectSchedule(maximumAttempts: 3)
        #expect(schedule.delay(beforeAttempt: 3, random: 0.5) == .seconds(8))
        #expect(schedule.delay(beforeAttempt: 4, random: 0.5) == nil)
    }

    @Test func withoutALimitItRetriesForeverAtTheCap() {
        let schedule = ReconnectSchedule(maximumAttempts: nil)
        #expect(schedule.delay(beforeAttempt: 1_000_000, random: 0.5) == .seconds(30))
    }

    @Test func millisecondSchedulesForTests() {
        let schedule = ReconnectSchedule(initialDelay: .milliseconds(10), multiplier: 3, maximumDelay: .milliseconds(50), jitter: 0)
        #expect((1...3).map { schedule.delay(beforeAttempt: $0, random: 0.9) } == [10, 30, 50].map { Duration.milliseconds($0) })
    }
}
