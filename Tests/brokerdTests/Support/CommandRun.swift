import Foundation
import TestSupport

/// What a child process printed and how it ended.
struct CommandResult {
    let status: Int32
    let stdout: String
    let stderr: String

    var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any] ?? [:]
    }
    var jsonLines: [[String: Any]] {
        lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
}

/// Runs `executable` to completion. Output goes through files, not pipes, so a chatty child can
/// never block on a full pipe while the test waits for it. `environment`, when given, is the
/// child's whole environment.
func runCommand(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) async throws -> CommandResult {
    let dir = try TemporaryDirectory()
    let out = dir.path("stdout"), err = dir.path("stderr")
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    _ = FileManager.default.createFile(atPath: err, contents: nil)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let environment { process.environment = environment }
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    try process.run()
    return CommandResult(
        status: await process.ended(checkingEvery: .milliseconds(10)),
        stdout: try String(contentsOfFile: out, encoding: .utf8),
        stderr: try String(contentsOfFile: err, encoding: .utf8))
}
