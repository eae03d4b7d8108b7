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
        if let pid = Int32((try? String(contentsOfFile: grandchild, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") {
            kill(pid, SIGKILL)
        }
        #expect(status == 3, "the child's exit status, long before its grandchild ends")
    }
}
