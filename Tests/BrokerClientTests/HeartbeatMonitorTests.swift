import Testing
@testable import BrokerClient

/// Pings every interval; a connection with nothing received within the pong timeout of a ping is dead.
struct HeartbeatMonitorTests {
    let start = ContinuousClock.now

    private func monitor() -> HeartbeatMonitor {
        HeartbeatMonitor(pingInterval: .seconds(30), pongTimeout: .seconds(10), start: start)
    }

    @Test func firstPingIsDueAfterOneInterval() {
        var heartbeat = monitor()
        #expect(heartbeat.poll(now: start) == .wait(until: start + .seconds(30)))
        #expect(heartbeat.poll(now: start + .seconds(30)) == .ping)
    }

    @Test func anAnswerWithinThePongTimeoutKeepsItAlive() {
        var heartbeat = monitor()
        #expect(heartbeat.poll(now: start + .seconds(30)) == .ping)
        #expect(heartbeat.poll(now: start + .seconds(31)) == .wait(until: start + .seconds(40)))
        heartbeat.received()
        #expect(heartbeat.poll(now: start + .seconds(45)) == .wait(until: start + .seconds(60)))
        #expect(heartbeat.poll(now: start + .seconds(60)) == .ping)
    }

    @Test func silenceAfterAPingIsDeath() {
        var heartbeat = monitor()
        #expect(heartbeat.poll(now: start + .seconds(30)) == .ping)
        #expect(heartbeat.poll(now: start + .seconds(40)) == .dead)
    }

    @Test func pingsGoOutEvenWhileMessagesFlow() {
        // The broker closes clients that send nothing, however much it sends them.
        var heartbeat = monitor()
        for second in stride(from: 1, to: 30, by: 1) {
            heartbeat.received()
            #expect(heartbeat.poll(now: start + .seconds(second)) != .ping)
        }
        heartbeat.received()
        #expect(heartbeat.poll(now: start + .seconds(30)) == .ping)
    }

    @Test func silenceWithoutAPingIsNotDeath() {
        var heartbeat = monitor()
        #expect(heartbeat.poll(now: start + .seconds(29)) == .wait(until: start + .seconds(30)))
    }

    @Test func whileTheReaderWaitsForTheConsumerPingsGoOnAndNothingIsDead() {
        var heartbeat = monitor()
        heartbeat.readerWaits()
        #expect(heartbeat.poll(now: start + .seconds(30)) == .ping)
        #expect(heartbeat.poll(now: start + .seconds(31)) == .wait(until: start + .seconds(60)), "no answer is due")
        #expect(heartbeat.poll(now: start + .seconds(60)) == .ping)
        #expect(heartbeat.poll(now: start + .seconds(85)) == .wait(until: start + .seconds(90)))

        // Reading again, the answer is due a pong timeout after the next ping, not the old ones.
        heartbeat.readerResumed()
        #expect(heartbeat.poll(now: start + .seconds(86)) == .wait(until: start + .seconds(90)))
        #expect(heartbeat.poll(now: start + .seconds(90)) == .ping)
        #expect(heartbeat.poll(now: start + .seconds(99)) == .wait(until: start + .seconds(100)))
        #expect(heartbeat.poll(now: start + .seconds(100)) == .dead)
    }
}
