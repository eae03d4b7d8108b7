import Foundation
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real nginx (the Debian package, `/usr/sbin/nginx`) running the repo's `Config/nginx.conf`
/// as a foreground child, with only what a test must change rewritten: the listen address, the
/// upstream nodes, and pid, log and temp paths inside a temporary directory.
final class NginxProcess {
    static let executable = "/usr/sbin/nginx"

    let port: Int
    let directory: TemporaryDirectory
    private let process: Process

    /// Starts nginx in front of brokers listening on `upstreamPorts` and waits until it proxies
    /// `/healthz` to one of them.
    init(upstreamPorts: [Int]) async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw NginxProcessError.missing("\(Self.executable) is missing: install it with scripts/setup --tests (apt package nginx)")
        }
        directory = try TemporaryDirectory()
        port = try freePort()
        let template = try String(contentsOf: Self.repositoryConfig, encoding: .utf8)
        let config = try Self.rewrite(template, listenPort: port, upstreamPorts: upstreamPorts, directory: directory.url.path)
        let configPath = directory.path("nginx.conf")
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        // -e: the log used before the config is read (the package's default is stderr anyway).
        process.arguments = ["-p", directory.url.path, "-c", configPath, "-e", directory.path("error.log"), "-g", "daemon off;"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.runWatched()
        self.process = process
        try await waitUntilProxying()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var webSocketURL: String { "ws://127.0.0.1:\(port)/ws/stock/prices" }
    var errorLog: String { (try? String(contentsOfFile: directory.path("error.log"), encoding: .utf8)) ?? "" }

    /// The shipped file, found from this source file's place in the repo.
    static var repositoryConfig: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Config/nginx.conf")
    }

    /// `template` with its listen lines, the servers of every upstream and file paths replaced. Throws when an
    /// expected line is missing, so the shipped file and this test cannot drift apart silently.
    static func rewrite(_ template: String, listenPort: Int, upstreamPorts: [Int], directory: String) throws -> String {
        var lines: [String] = []
        var listenWritten = false
        var upstreamWritten = false
        var inUpstream = false
        var found = Set<String>()
        for line in template.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let code = line.trimmingCharacters(in: .whitespaces)
            let indent = String(line.prefix { $0 == " " })
            if code.hasPrefix("upstream ") {
                inUpstream = true
                upstreamWritten = false
            }
            if inUpstream && code == "}" { inUpstream = false }
            switch true {
            case code.hasPrefix("user "):
                // Workers keep the test's user (or nginx's default when root): no www-data here.
                found.insert("user")
            case code.hasPrefix("pid "):
                lines.append("pid \(directory)/nginx.pid;")
                found.insert("pid")
            case code.hasPrefix("error_log "):
                lines.append("error_log \(directory)/error.log warn;")
                found.insert("error_log")
            case code.hasPrefix("access_log "):
                // The file moves here; the format named after it stays.
                let format = code.dropLast(code.hasSuffix(";") ? 1 : 0).split(separator: " ").dropFirst(2).joined(separator: " ")
                lines.append(indent + "access_log \(directory)/access.log\(format.isEmpty ? "" : " " + format);")
                found.insert("access_log")
            case code.hasPrefix("worker_processes "):
                lines.append("worker_processes 1;")
            case code == "http {":
                lines.append(line)
                for (name, directive) in [
                    ("client_body", "client_body_temp_path"), ("proxy", "proxy_temp_path"), ("fastcgi", "fastcgi_temp_path"),
                    ("uwsgi", "uwsgi_temp_path"), ("scgi", "scgi_temp_path"),
                ] {
                    lines.append("    \(directive) \(directory)/\(name)_temp;")
                }
            case code.hasPrefix("listen ") && !code.contains("ssl"):
                found.insert("listen")
                if !listenWritten { lines.append(indent + "listen 127.0.0.1:\(listenPort);") }
                listenWritten = true
            case inUpstream && code.hasPrefix("server "):
                found.insert("upstream server")
                let options = code.dropLast(code.hasSuffix(";") ? 1 : 0).split(separator: " ").dropFirst(2).map(String.init)
                if !upstreamWritten {
                    for port in upstreamPorts {
                        lines.append(indent + (["server", "127.0.0.1:\(port)"] + options).joined(separator: " ") + ";")
                    }
                }
                upstreamWritten = true
            default:
                lines.append(line)
            }
        }
        let expected: Set = ["user", "pid", "error_log", "access_log", "listen", "upstream server"]
        guard found == expected else {
            throw NginxProcessError.unexpectedConfig("Config/nginx.conf lacks lines the test rewrites: \(expected.subtracting(found).sorted())")
        }
        return lines.joined(separator: "\n")
    }

    private func waitUntilProxying() async throws {
        for _ in 0..<200 {
            if let (status, _) = try? await HTTP.request("GET", baseURL + "/healthz"), status == 200 { return }
            guard process.isAlive else { throw NginxProcessError.exited(errorLog) }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw NginxProcessError.notProxying(errorLog)
    }

    /// Fast shutdown (SIGTERM: the master stops its workers) and waits for the exit.
    func stop() {
        guard process.isAlive else { return }
        process.terminate()
        process.endedBlocking()
    }

    deinit { stop() }
}

enum NginxProcessError: Error {
    case missing(String)
    case unexpectedConfig(String)
    case exited(String)
    case notProxying(String)
}
