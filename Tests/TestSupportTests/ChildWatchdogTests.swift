import Foundation
import Testing

@testable import TestSupport

/// The watchdog over real processes: a stand-in parent killed as a crashed test process would be.
@Suite struct ChildWatchdogTests {
    /// A process running `command` under /bin/sh, its output read through a pipe.
    private static func shell(_ command: String) throws -> (process: Process, output: Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        return (process, output)
    }

    /// Whether `pid` is a process that has not exited (a zombie has: it waits to be reaped).
    private static func running(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.range(of: ") ", options: .backwards)
        else { return false }
        return stat[end.upperBound...].first != "Z"
    }

    /// The parent process id of `pid`; nil when it is gone.
    private static func parent(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.range(of: ") ", options: .backwards)
        else { return nil }
        return stat[end.upperBound...].split(separator: " ").dropFirst().first.flatMap { Int32($0) }
    }

    private static func eventually(_ what: String, within limit: Duration = .seconds(15), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while !condition() {
            guard ContinuousClock.now < deadline else { throw WatchdogTestFailure(description: "gave up waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    struct WatchdogTestFailure: Error, CustomStringConvertible {
        let description: String
    }

    @Test func whenTheParentDiesTheChildAndWhatItStartedAreKilled() async throws {
        let parent = try Self.shell("exec sleep 300").process
        // The child starts a grandchild and says its id.
        let (child, output) = try Self.shell("sleep 300 & echo $!; wait")
        let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
        let grandchild = try #require(Int32(line.trimmingCharacters(in: .whitespacesAndNewlines)))
        let watcher = try ChildWatchdog.watch(child.processIdentifier, parent: parent.processIdentifier)
        defer {
            for pid in [child.processIdentifier, grandchild, watcher.processIdentifier] where Self.running(pid) { kill(pid, SIGKILL) }
        }
        // While the parent lives, the watchdog leaves them alone.
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(child.isAlive && Self.running(grandchild) && watcher.isAlive)

        kill(parent.processIdentifier, SIGKILL)
        await parent.ended()
        try await Self.eventually("the child to be killed") { !child.isAlive }
        #expect(child.endingSignal == SIGKILL)
        try await Self.eventually("the grandchild to be killed") { !Self.running(grandchild) }
        try await Self.eventually("the watchdog to end") { !watcher.isAlive }
    }

    @Test func whenTheChildEndsFirstTheWatchdogEndsAndKillsNothing() async throws {
        let parent = try Self.shell("exec sleep 300").process
        let child = try Self.shell("exec sleep 300").process
        defer { kill(parent.processIdentifier, SIGKILL) }
        let watcher = try ChildWatchdog.watch(child.processIdentifier, parent: parent.processIdentifier)
        // Into its loop (a child gone before the watchdog looked ends it at once).
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(watcher.isAlive)
        kill(child.processIdentifier, SIGKILL)
        await child.ended()
        try await Self.eventually("the watchdog to end") { !watcher.isAlive }
        #expect(watcher.endedStatus == 0 && parent.isAlive)
    }

    @Test func aChildRunWatchedIsWatchedOnBehalfOfThisProcess() async throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["300"]
        try child.runWatched()
        defer { kill(child.processIdentifier, SIGKILL) }
        // The watchdog is this process's child too, with this process and the child as its arguments
        // (its subshells have the same arguments, but are its children).
        func watchers() -> [Int32] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init).filter { pid in
                let command = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
                let arguments = command.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                return arguments.suffix(3) == ["brokerd-test-watchdog", "\(getpid())", "\(child.processIdentifier)"]
                    && Self.parent(of: pid) == getpid()
            }
        }
        try await Self.eventually("the watchdog") { watchers().count == 1 }
    }
}
