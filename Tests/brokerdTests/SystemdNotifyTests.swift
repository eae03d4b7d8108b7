import Foundation
import Logging
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

@testable import brokerd

/// What brokerd tells systemd (`Type=notify`): where it sends, when it is ready, what each message says.
struct SystemdNotifyTests {
    @Test func aSocketIsAnAbsolutePathOrAnAbstractName() throws {
        #expect(SystemdNotifier.socketAddress("/run/systemd/notify") == Array("/run/systemd/notify".utf8) + [0])
        #expect(SystemdNotifier.socketAddress("@brokerd/notify") == [0] + Array("brokerd/notify".utf8))
        #expect(SystemdNotifier.socketAddress("run/systemd/notify") == nil, "relative")
        #expect(SystemdNotifier.socketAddress("@") == nil, "an abstract name of nothing")
        #expect(SystemdNotifier.socketAddress("/" + String(repeating: "a", count: 120)) == nil, "longer than sun_path")
        #expect(SystemdNotifier.fromEnvironment(["NOTIFY_SOCKET": "notify"], logger: Logger(label: "test")) == nil)
        #expect(SystemdNotifier.fromEnvironment([:], logger: Logger(label: "test")) == nil, "not run by systemd")
    }

    @Test func theWatchdogIsOnlyThisProcesssToFeed() {
        #expect(SystemdNotifier.watchdogTimeout(["WATCHDOG_USEC": "30000000"], pid: 42) == .seconds(30))
        #expect(SystemdNotifier.watchdogTimeout(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"], pid: 42) == .seconds(30))
        #expect(SystemdNotifier.watchdogTimeout(["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "41"], pid: 42) == nil, "another process's")
        #expect(SystemdNotifier.watchdogTimeout(["WATCHDOG_USEC": "0"], pid: 42) == nil)
        #expect(SystemdNotifier.watchdogTimeout(["WATCHDOG_USEC": "soon"], pid: 42) == nil)
        #expect(SystemdNotifier.watchdogTimeout([:], pid: 42) == nil)
    }

    @Test func readyOnceTheJournalIsReplayedAndTheServerListensInEitherOrder() throws {
        var listenedFirst = SystemdReadiness()
        #expect(listenedFirst.listening(on: "0.0.0.0:8000") == nil)
        let announced = listenedFirst.replayed(through: 17)
        let ready = try #require(announced)
        #expect(ready.text == "READY=1\nSTATUS=ready: journal replayed through seq 17, listening on 0.0.0.0:8000\n")
        #expect(listenedFirst.isAnnounced)
        #expect(listenedFirst.listening(on: "0.0.0.0:8000") == nil, "said once")

        var replayedFirst = SystemdReadiness()
        #expect(replayedFirst.replayed(through: 0) == nil)
        #expect(!replayedFirst.isAnnounced)
        #expect(replayedFirst.listening(on: "127.0.0.1:9000")?.text.hasPrefix("READY=1\n") == true)
    }

    @Test func aValueIsOneLine() {
        let message = SystemdMessage([("STATUS", "two\nlines"), ("WATCHDOG", "1")])
        #expect(message.text == "STATUS=two lines\nWATCHDOG=1\n")
        #expect(SystemdMessage.reloading(monotonicMicroseconds: 123).text == "RELOADING=1\nMONOTONIC_USEC=123\nSTATUS=reloading the configuration\n")
    }
}

/// A real broker telling a socket that stands in for systemd how it is doing.
@Suite(.serialized) struct ServerSystemdNotifyTests {
    @Test func aBrokerSaysReadyFeedsTheWatchdogReloadsAndStops() async throws {
        let dir = try TemporaryDirectory()
        let systemd = try NotifySocket(path: dir.path("notify"))
        defer { systemd.stop() }
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--shutdown-drain", "2"],
            environment: ["NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "400000"])

        let ready = try #require(await systemd.first { $0["READY"] == "1" })
        #expect(ready.fields["STATUS"]?.hasPrefix("ready: journal replayed through seq ") == true, "\(ready.fields)")
        #expect(ready.fields["STATUS"]?.hasSuffix("listening on 127.0.0.1:\(broker.port)") == true, "\(ready.fields)")
        #expect(try await HTTP.request("GET", broker.baseURL + "/readyz").0 == 200, "ready for systemd only once ready for clients")
        #expect(await systemd.first(from: ready.index) { $0["STATUS"]?.hasPrefix("serving 0 clients, 0 ticks/s, journal seq") == true } != nil)
        #expect(!systemd.messages.prefix(ready.index).contains { $0["STATUS"] != nil }, "no status before READY=1")
        // Pinged every 0.2 s: a few pings within a second or two.
        var pings = 0
        for _ in 0..<200 where pings < 3 {
            try await Task.sleep(for: .milliseconds(50))
            pings = systemd.messages.filter { $0["WATCHDOG"] == "1" }.count
        }
        #expect(pings >= 3)

        let client = TestWebSocket(url: broker.webSocketURL)
        #expect(try await client.receive()?["type"] as? String == "connected")

        let beforeReload = systemd.messages.count
        let monotonicBefore = Self.monotonicMicroseconds()
        kill(broker.process.processIdentifier, SIGHUP)
        let reloading = try #require(await systemd.first(from: beforeReload) { $0["RELOADING"] == "1" })
        let stamp = try #require(reloading.fields["MONOTONIC_USEC"].flatMap(Int64.init))
        #expect(stamp >= monotonicBefore && stamp <= Self.monotonicMicroseconds(), "CLOCK_MONOTONIC when the reload began")
        let reloaded = try #require(await systemd.first(from: reloading.index) { $0["READY"] == "1" })
        #expect(reloaded.fields["STATUS"] == "configuration reloaded")

        broker.process.terminate()
        let stopping = try #require(await systemd.first(from: reloaded.index) { $0["STOPPING"] == "1" })
        #expect(stopping.fields["STATUS"] == "draining: closing 1 clients over 2 s")
        #expect(stopping.fields["EXTEND_TIMEOUT_USEC"] == "32000000", "the drain and the stop after it")
        #expect(await broker.waitForExit() == 0)
        #expect(systemd.messages.filter { $0["READY"] == "1" }.count == 2, "ready once, and after the reload")
    }

    @Test func theWatchdogIsNotFedWhileTheJournalsWriterIsStuck() async throws {
        let dir = try TemporaryDirectory()
        let systemd = try NotifySocket(path: dir.path("notify"))
        defer { systemd.stop() }
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal, environment: ["NOTIFY_SOCKET": systemd.path, "WATCHDOG_USEC": "1000000"])
        #expect(await systemd.first { $0["READY"] == "1" } != nil)
        func pings() -> Int { systemd.messages.filter { $0["WATCHDOG"] == "1" }.count }
        var before = 0
        for _ in 0..<100 where before < 3 {
            try await Task.sleep(for: .milliseconds(50))
            before = pings()
        }
        #expect(before >= 3, "fed every half second while all is well")

        // Another connection holds the file's write lock: the writer's jobs wait (up to its 5 s
        // busy timeout) for as long as it is held.
        let lock = try JournalWriteLock(path: journal)
        try await Task.sleep(for: .milliseconds(700))  // a check begun before the lock ends first
        let atLock = pings()
        try await Task.sleep(for: .milliseconds(3_000))
        let whileStuck = pings() - atLock
        lock.release()
        #expect(whileStuck == 0, "no ping in 3 s of a stuck writer (every 0.5 s otherwise)")
        var after = pings()
        for _ in 0..<100 where after < atLock + whileStuck + 2 {
            try await Task.sleep(for: .milliseconds(50))
            after = pings()
        }
        #expect(after >= atLock + whileStuck + 2, "fed again once the writer runs")
        #expect(broker.logText.contains("slow to answer the watchdog's check"), "\(broker.logText.suffix(600))")
        #expect(await broker.terminate() == 0)
    }

    static func monotonicMicroseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000 + Int64(now.tv_nsec) / 1_000
    }
}
