import Foundation
import Synchronization
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real headless Chromium child process, driven over the Chrome DevTools Protocol.
///
/// Started with `--remote-debugging-port=0`; the browser's DevTools WebSocket URL is read from its
/// stderr ("DevTools listening on ws://..."). Its profile lives in a temporary directory. Call
/// `terminate()` when done (a `defer` does it on failure too); deinit kills it as a last resort.
final class HeadlessChromium: @unchecked Sendable {
    // @unchecked: `process`, `browserURL` and `profile` are set in init and only read afterwards;
    // the log buffer is a Sendable class of its own.
    let process: Process
    /// `ws://127.0.0.1:<port>/devtools/browser/<id>`.
    let browserURL: String
    private let profile: TemporaryDirectory
    private let log: LogBuffer

    enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case noDevToolsURL(String)
        case protocolError(String)
        case timeout(String)

        var description: String {
            switch self {
            case .notInstalled:
                "chromium is not installed (looked for chromium, chromium-browser, google-chrome on PATH and $CHROMIUM_BIN): "
                    + "run scripts/setup --tests, or apt-get install -y chromium"
            case .noDevToolsURL(let log): "chromium printed no DevTools URL; its stderr:\n\(log)"
            case .protocolError(let message): "DevTools: \(message)"
            case .timeout(let what): "timed out waiting for \(what)"
            }
        }
    }

    /// The browser binary: `$CHROMIUM_BIN`, else the first of the usual names on PATH.
    static func executable() throws(Failure) -> String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["CHROMIUM_BIN"], FileManager.default.isExecutableFile(atPath: path) { return path }
        let directories = (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            for directory in directories {
                let path = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
        }
        throw .notInstalled
    }

    init(windowSize: (width: Int, height: Int) = (1440, 1000)) async throws {
        let profile = try TemporaryDirectory()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Self.executable())
        var arguments = [
            "--headless", "--remote-debugging-port=0", "--user-data-dir=\(profile.url.path)",
            // HummingbirdWSClient sends an Origin header, which DevTools refuses unless allowed; the
            // port is loopback-only and lives as long as the test.
            "--remote-allow-origins=*",
            "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-extensions", "--mute-audio", "--hide-scrollbars",
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--window-size=\(windowSize.width),\(windowSize.height)",
        ]
        // Chromium's sandbox refuses to run as root; the tests run as root in CI containers.
        if getuid() == 0 { arguments.append("--no-sandbox") }
        process.arguments = arguments + ["about:blank"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let log = LogBuffer()
        try process.runWatched()
        self.process = process
        self.profile = profile
        self.log = log
        let found = await log.firstMatch(from: errors, of: #"DevTools listening on (ws://\S+)"#)
        guard let found else {
            throw Failure.noDevToolsURL(log.text)
        }
        browserURL = found
    }

    var logText: String { log.text }

    /// Opens a new tab and connects to it.
    func newPage() async throws -> DevToolsPage {
        let browser = DevToolsConnection(url: browserURL)
        let created: [String: Any]
        do {
            created = try await browser.call("Target.createTarget", ["url": "about:blank"])
            await browser.close()
        } catch {
            await browser.close()
            throw error
        }
        guard let targetID = created["targetId"] as? String else {
            throw Failure.protocolError("Target.createTarget returned no targetId: \(created)")
        }
        // The page's own endpoint: same host and port as the browser's, /devtools/page/<id>.
        guard let range = browserURL.range(of: "/devtools/browser/") else {
            throw Failure.protocolError("unexpected browser URL \(browserURL)")
        }
        return DevToolsPage(connection: DevToolsConnection(url: browserURL[..<range.lowerBound] + "/devtools/page/" + targetID))
    }

    /// SIGTERM, a few seconds' grace for the browser to take its helper processes down, then SIGKILL.
    func terminate() {
        guard process.isAlive else { return }
        kill(process.processIdentifier, SIGTERM)
        for _ in 0..<100 where process.isAlive { usleep(50_000) }
        if process.isAlive { kill(process.processIdentifier, SIGKILL) }
        process.endedBlocking()
    }

    deinit {
        if process.isAlive { kill(process.processIdentifier, SIGKILL) }
    }
}

/// One DevTools WebSocket: commands with increasing ids, answered by the reply with the same id.
final class DevToolsConnection: Sendable {
    private let socket: TestWebSocket
    private let nextID = Atomic<Int>(1)

    init(url: String) {
        // Screenshots arrive as one base64 frame of a few MB.
        socket = TestWebSocket(url: url, maxFrameSize: 64 << 20)
    }

    /// Sends `method` and returns its `result`; events arriving meanwhile are skipped.
    func call(_ method: String, _ params: [String: Any] = [:], timeout: Duration = .seconds(30)) async throws -> [String: Any] {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        try socket.send(["id": id, "method": method, "params": params])
        while true {
            guard let message = try await socket.receive(timeout: timeout) else {
                let why: String
                do {
                    why = "close frame \(String(describing: try await socket.closeFrame()))"
                } catch {
                    why = "\(error)"
                }
                throw HeadlessChromium.Failure.protocolError("connection closed during \(method): \(why)")
            }
            guard message["id"] as? Int == id else { continue }
            if let error = message["error"] as? [String: Any] {
                throw HeadlessChromium.Failure.protocolError("\(method) failed: \(error)")
            }
            return message["result"] as? [String: Any] ?? [:]
        }
    }

    func close() async { await socket.close() }
}

/// A browser tab: navigate, evaluate JavaScript, take screenshots.
struct DevToolsPage: Sendable {
    let connection: DevToolsConnection

    func navigate(_ url: String) async throws {
        let result = try await connection.call("Page.navigate", ["url": url])
        if let error = result["errorText"] as? String {
            throw HeadlessChromium.Failure.protocolError("navigating to \(url): \(error)")
        }
    }

    /// The value of a JavaScript expression (JSON-serializable values only); exceptions are thrown.
    func evaluate(_ expression: String) async throws -> Any? {
        let result = try await connection.call("Runtime.evaluate", ["expression": expression, "returnByValue": true])
        if let exception = result["exceptionDetails"] as? [String: Any] {
            throw HeadlessChromium.Failure.protocolError("\(expression) threw: \(exception)")
        }
        return (result["result"] as? [String: Any])?["value"]
    }

    /// Evaluates `expression` (a JSON object literal, say) until `condition` holds for its value, or
    /// fails after `deadline` saying what was last seen.
    @discardableResult
    func poll(
        _ what: String, _ expression: String, deadline: Duration = .seconds(90),
        until condition: ([String: Any]) -> Bool
    ) async throws -> [String: Any] {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: deadline)
        var last: Any = "nothing"
        while clock.now < end {
            do {
                // An expression may throw while the page is still loading: that counts as "not yet".
                let value = try await evaluate(expression) as? [String: Any] ?? [:]
                if condition(value) { return value }
                last = value
            } catch HeadlessChromium.Failure.protocolError(let message) {
                last = message
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw HeadlessChromium.Failure.timeout("\(what); last seen: \(last)")
    }

    /// A PNG of the viewport.
    func screenshot() async throws -> Data {
        let result = try await connection.call("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"] as? String, let data = Data(base64Encoded: base64) else {
            throw HeadlessChromium.Failure.protocolError("Page.captureScreenshot returned no image")
        }
        return data
    }

    func close() async { await connection.close() }
}
