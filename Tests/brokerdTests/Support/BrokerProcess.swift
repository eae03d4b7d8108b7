import AsyncHTTPClient
import Broker
import Foundation
import Journal
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import TestSupport

@testable import brokerd


/// A real `brokerd serve` child process on a free loopback port, with its own journal.
final class BrokerProcess: @unchecked Sendable {
    // @unchecked: `process` and `port` are set in init and only read afterwards; the log buffer is
    // a Sendable class of its own.
    let journalPath: String
    let port: Int
    let process: Process
    private let log: LogBuffer

    /// Starts the broker and waits until `/readyz` says ready. `port` 0 picks a free port; a
    /// restart passes the port of the process it replaces, so clients find it where it was.
    /// `workingDirectory` nil runs it in the test's, the repository's root.
    init(
        journal: String, port: Int = 0, arguments: [String] = [], environment: [String: String] = [:],
        workingDirectory: String? = nil, listening: String = BrokerProcess.textListening
    ) async throws {
        journalPath = journal
        let binary = productsDirectory().appendingPathComponent("brokerd")
        let process = Process()
        process.executableURL = binary
        process.arguments = ["serve", "--port", String(port), "--journal", journal, "--simulator", "off", "--config", emptyConfigPath()] + arguments
        // Neither the runner's BROKERD_ settings nor systemd's: a test run by a unit must not tell it about its brokers.
        let inherited = ProcessInfo.processInfo.environment.filter {
            !$0.key.hasPrefix("BROKERD_") && !["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"].contains($0.key)
        }
        process.environment = inherited.merging(environment) { $1 }
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory, isDirectory: true) }
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let log = LogBuffer()
        try process.runWatched()
        self.process = process
        self.log = log
        let found = await log.firstMatch(from: errors, of: listening, orExitOf: process).flatMap { Int($0) }
        guard let found else { throw BrokerProcessError.exited(log.text) }
        self.port = found
        try await waitUntilReady()
    }

    /// The log line that says the broker listens, its port captured: in the text format.
    static let textListening = #"port=(\d+) \[brokerd\] listening"#
    /// The same line in `log_format = "json"`.
    static let jsonListening = #""message":"listening","host":"[^"]*","port":(\d+)"#

    var logText: String { log.text }

    /// Writes `text` to the configuration file at `path` (the one `--config` named) and reloads it:
    /// `POST /api/config/reload`'s status and answer.
    func reload(writing text: String, to path: String) async throws -> (Int, [String: Any]) {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return try await HTTP.request("POST", baseURL + "/api/config/reload")
    }

    /// The query that resumes `clientID`: `resume`, `since` when given, and the session's
    /// `resume_token`, made as the broker makes it from the key beside its journal (what the
    /// session's `connected` carried).
    func resumeQuery(_ clientID: String, since: String? = nil) -> String {
        let token = (try? ResumeKey.loadOrCreate(besideJournal: journalPath).token(for: clientID, startedAt: sessionStart(of: clientID)))
            ?? "no-resume-key"
        return "resume=\(clientID)" + (since.map { "&since=\($0)" } ?? "") + "&resume_token=\(token)"
    }

    /// When the session `clientID` now has started, as the broker's projection says (from the
    /// newest snapshot and the tail, so a compacted or partly damaged journal will do); else the
    /// journal time of its first connect since it last expired (0 when it never connected).
    private func sessionStart(of clientID: String) throws -> Int64 {
        if let loaded = try? ProjectionLoader(logger: Logger(label: "test")).load(from: JournalReader(path: journalPath)),
            let client = loaded.projection.client(clientID)
        {
            return client.startedAt
        }
        let kinds: Set = [EventKind.clientConnected.rawValue, EventKind.sessionExpired.rawValue]
        let cursor = try JournalReader(path: journalPath).records(JournalQuery(kinds: kinds))
        var start: Int64?
        while let record = try cursor.next() {
            switch try EventCodec.decode(kind: record.kind, payload: record.payload) {
            case .clientConnected(let connected) where connected.clientID == clientID: start = start ?? record.timestamp
            case .sessionExpired(let expired) where expired.clientID == clientID: start = nil
            default: break
            }
        }
        return start ?? 0
    }
    var baseURL: String { "http://127.0.0.1:\(port)" }
    var webSocketURL: String { "ws://127.0.0.1:\(port)/ws/stock/prices" }

    private func waitUntilReady() async throws {
        for _ in 0..<200 {
            if let (status, _) = try? await HTTP.request("GET", baseURL + "/readyz"), status == 200 { return }
            guard process.isAlive else { throw BrokerProcessError.exited(logText) }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BrokerProcessError.notReady(logText)
    }

    /// SIGTERM, then waits for the exit; returns the exit status.
    @discardableResult
    func terminate() async -> Int32 {
        process.terminate()
        return await waitForExit()
    }

    /// SIGKILL: the process dies without any chance to clean up.
    func kill9() async {
        kill(process.processIdentifier, SIGKILL)
        _ = await waitForExit()
    }

    /// SIGSTOP: the process stays, its sockets stay open, and it answers nothing until `proceed()`.
    func suspend() {
        kill(process.processIdentifier, SIGSTOP)
    }

    /// SIGCONT after `suspend()`.
    func proceed() {
        kill(process.processIdentifier, SIGCONT)
    }

    func waitForExit() async -> Int32 {
        await process.ended()
    }

    deinit {
        if process.isAlive { kill(process.processIdentifier, SIGKILL) }
    }
}

/// The child's stderr so far.
final class LogBuffer: Sendable {
    private let buffer = Mutex("")
    var text: String { buffer.withLock { $0 } }
    func append(_ text: String) -> String { buffer.withLock { $0 += text; return $0 } }

    /// `firstMatch(from:of:)`, also ending (nil) a second after `process` exited without a match:
    /// under load, Foundation once never reported the end of an exited child's pipe, and the test
    /// waiting for it hung the whole run.
    func firstMatch(from pipe: Pipe, of pattern: String, orExitOf process: Process) async -> String? {
        await withTaskGroup(of: String?.self) { group in
            group.addTask { await self.firstMatch(from: pipe, of: pattern) }
            group.addTask {
                while process.isAlive, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
                try? await Task.sleep(for: .seconds(1))  // what it wrote last is still being read
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Collects what a child writes to `pipe` and waits for the first line matching `pattern`:
    /// returns the pattern's first capture group, or nil when the child closed the pipe first.
    ///
    /// Read with blocking `read(2)` on a thread of its own until the child closes the pipe, not
    /// with `readabilityHandler`: that is a DispatchSource on the descriptor, and its teardown
    /// racing the descriptor's close crashed the test process in libdispatch
    /// (`_dispatch_event_loop_drain`, a bad pointer) after URLSession was gone from the tests.
    func firstMatch(from pipe: Pipe, of pattern: String) async -> String? {
        let found = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let reader = Thread { [self] in
            // `pipe` is held here, so its descriptor stays open until the last read.
            let descriptor = pipe.fileHandleForReading.fileDescriptor
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                let all = append(String(decoding: chunk[0..<count], as: UTF8.self))
                if let match = try? Regex(pattern).firstMatch(in: all), let capture = match.output[1].substring {
                    found.continuation.yield(String(capture))
                }
            }
            found.continuation.finish()
        }
        reader.start()
        for await value in found.stream { return value }
        return nil
    }
}

enum BrokerProcessError: Error {
    case exited(String)
    case notReady(String)
}

/// An empty TOML file, so the repo's Config/brokerd.toml never leaks into a test's settings.
private func emptyConfigPath() -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("brokerd-test-empty.toml").path
    if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: Data()) }
    return path
}

/// The built products directory (where `brokerd` lives).
func productsDirectory() -> URL {
    if let override = ProcessInfo.processInfo.environment["BROKERD_BIN_DIR"] {
        return URL(fileURLWithPath: override)
    }
    var url = Bundle.main.bundleURL
    while url.path != "/" {
        if FileManager.default.fileExists(atPath: url.appendingPathComponent("brokerd").path) { return url }
        url.deleteLastPathComponent()
    }
    return Bundle.main.bundleURL
}

/// Minimal HTTP client for the API tests, over AsyncHTTPClient.
///
/// Not URLSession: FoundationNetworking wraps libcurl's sockets in DispatchSources, and their
/// teardown races crash the test process now and then (`_dispatch_event_loop_drain`, a bad
/// pointer; swift-corelibs-foundation#4791, #5469): CI crashed that way once. Each request goes on
/// a connection of its own (`Connection: close`), so a broker restarted on the same port never
/// meets a pooled connection to the one before.
enum HTTP {
    /// An answer: status, body, headers.
    struct Answer {
        let status: Int
        let body: ByteBuffer
        let headers: HTTPHeaders

        var text: String { String(buffer: body) }
        /// The body as a JSON object; empty when it is not one.
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:] }
    }

    static func request(
        _ method: String, _ url: String, body: String? = nil, token: String? = nil, authorization: String? = nil
    ) async throws -> (Int, [String: Any]) {
        let answer = try await send(method, url, body: body, authorization: authorization ?? token.map { "Bearer \($0)" })
        return (answer.status, answer.json)
    }

    /// `method` `url` with a JSON `body` when there is one; throws only when no answer came (in 10 s).
    static func send(_ method: String, _ url: String, body: String? = nil, authorization: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "Connection", value: "close")
        if let body {
            request.body = .bytes(ByteBuffer(string: body))
            request.headers.add(name: "Content-Type", value: "application/json")
        }
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let bytes = try await response.body.collect(upTo: 64 << 20)
        return Answer(status: Int(response.status.code), body: bytes, headers: response.headers)
    }

    /// The body of `GET url`, as text.
    static func text(_ url: String) async throws -> String {
        try await send("GET", url).text
    }
}
