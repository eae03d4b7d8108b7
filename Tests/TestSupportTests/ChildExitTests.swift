import Foundation
import Testing
import TestSupport

/// The test harness sees its children end even when Foundation does not (`Process.endedStatus`).
struct ChildExitTests {
    @Test func aChildThatEndedIsSeenEndedWhileItsOwnChildLivesOn() async throws {
        let dir = try TemporaryDirectory()
        let grandchild = dir.path("grandchild.pid")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The grandchild inherits what Foundation watches for the child's end, so Foundation takes
        // the child for running as long as the grandchild lives (swift-corelibs-foundation#4795).
        process.arguments = ["-c", "sleep 60 & echo $! > \(grandchild); exit 3"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let status = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await process.ended() }
            group.addTask {
                try? await Task.sleep(for: .seconds(20))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        Self.killProcess(listedIn: grandchild)
        #expect(status == 3, "the child's exit status, long before its grandchild ends")
    }

    /// An exit with the status 9 is told from a SIGKILL, on either path (Foundation's and the kernel's).
    @Test func aChildKilledByASignalIsToldFromOneThatExitedWithItsNumber() async throws {
        let dir = try TemporaryDirectory()
        for (script, signal) in [("exit 9", nil), ("kill -KILL $$", SIGKILL)] as [(String, Int32?)] {
            for keepsFoundationBlind in [false, true] {
                let grandchild = dir.path("grandchild-\(keepsFoundationBlind).pid")
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", (keepsFoundationBlind ? "sleep 60 & echo $! > \(grandchild); " : "") + script]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                try process.run()
                let status = process.endedBlocking()
                Self.killProcess(listedIn: grandchild)
                #expect(status == 9, "\(script), Foundation blind: \(keepsFoundationBlind)")
                #expect(process.endingSignal == signal, "\(script), Foundation blind: \(keepsFoundationBlind)")
                #expect(!process.isAlive)
            }
        }
    }

    /// Kills the process whose id a child wrote to `path`, if it wrote one.
    private static func killProcess(listedIn path: String) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return }
        kill(pid, SIGKILL)
    }
}
