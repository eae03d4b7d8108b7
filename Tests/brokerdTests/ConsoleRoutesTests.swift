import Foundation
import Testing
import TestSupport

/// The live console's routes: static files from `public_dir` and the strategy list it picks from.
@Suite(.serialized) struct ConsoleRoutesTests {
    /// The repository's `Public/` directory, found relative to this file.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let publicDirectory = repositoryRoot.appendingPathComponent("Public").path

    private func startBroker(publicDir: String = publicDirectory) async throws -> (TemporaryDirectory, BrokerProcess) {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"), arguments: ["--public-dir", publicDir])
        return (dir, broker)
    }

    @Test func theRootServesTheConsolePageAsHTML() async throws {
        let (dir, broker) = try await startBroker()
        let response = try RawHTTP.get(port: broker.port, path: "/")
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "text/html; charset=utf-8")
        #expect(response.body.contains("<title>brokerd · live console</title>"))
        #expect(response.body.contains(#"<script src="brokerd-client.js"></script>"#))
        // HEAD: the same length, no body.
        let head = try RawHTTP.send("HEAD", port: broker.port, path: "/")
        #expect(head.status == 200 && head.body.isEmpty, "\(head)")
        #expect(head.headers["content-length"] == String(response.body.utf8.count), "\(head.headers)")
        _ = dir
    }

    @Test func theClientLibraryIsServedAsJavaScript() async throws {
        let (dir, broker) = try await startBroker()
        let response = try RawHTTP.get(port: broker.port, path: "/brokerd-client.js")
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "text/javascript; charset=utf-8")
        #expect(response.body.contains("class BrokerClient"))
        _ = dir
    }

    @Test(arguments: ["/../Package.swift", "/%2e%2e/Package.swift", "/..%2fPackage.swift", "/x/../../Package.swift", "/%2E%2E%2FPackage.swift"])
    func aPathWithDotDotNeverReachesAFileOutsidePublic(_ path: String) async throws {
        // Package.swift sits right next to Public/: one `..` away if traversal worked.
        let outside = try String(contentsOfFile: Self.repositoryRoot.appendingPathComponent("Package.swift").path, encoding: .utf8)
        #expect(outside.contains("swift-tools-version"))
        let (dir, broker) = try await startBroker()
        let response = try RawHTTP.get(port: broker.port, path: path)
        #expect(response.status == 404 || response.status == 400, "\(path): \(response.status)")
        #expect(!response.body.contains("swift-tools-version"), "\(path) served a file outside Public/")
        _ = dir
    }

    @Test func routesWinOverFilesOfTheSamePath() async throws {
        let root = try TemporaryDirectory()
        let files = root.path("public")
        try FileManager.default.createDirectory(atPath: files + "/api/websocket", withIntermediateDirectories: true)
        try "a file, not the route".write(toFile: files + "/healthz", atomically: true, encoding: .utf8)
        try "a file, not the route".write(toFile: files + "/api/websocket/stats", atomically: true, encoding: .utf8)
        try "served".write(toFile: files + "/page.txt", atomically: true, encoding: .utf8)
        let (dir, broker) = try await startBroker(publicDir: files)

        let health = try RawHTTP.get(port: broker.port, path: "/healthz")
        #expect(health.status == 200 && health.body.contains(#""status":"ok""#), "\(health.body)")
        let stats = try RawHTTP.get(port: broker.port, path: "/api/websocket/stats")
        #expect(stats.status == 200 && stats.body.contains(#""journal""#), "\(stats.body)")
        let file = try RawHTTP.get(port: broker.port, path: "/page.txt")
        #expect(file.status == 200 && file.body == "served")
        _ = (root, dir)
    }

    @Test func aMissingPublicDirectoryIsLoggedAndTheBrokerServesOn() async throws {
        let (dir, broker) = try await startBroker(publicDir: "/nonexistent/brokerd-public")
        #expect(broker.logText.contains("live console off: public_dir is not a directory"))
        #expect(broker.logText.contains("/nonexistent/brokerd-public"))
        let root = try RawHTTP.get(port: broker.port, path: "/")
        #expect(root.status == 404)
        #expect(root.body.contains(#""error":"not_found""#))
        let health = try RawHTTP.get(port: broker.port, path: "/healthz")
        #expect(health.status == 200)
        _ = dir
    }

    @Test func theStrategiesRouteListsEveryStrategyWithSignalsByName() async throws {
        let (dir, broker) = try await startBroker()
        let (emptyStatus, empty) = try await HTTP.request("GET", broker.baseURL + "/api/strategies")
        #expect(emptyStatus == 200)
        #expect(empty["count"] as? Int == 0)

        for (strategy, codes) in [("volume_wave", ["600519", "000001"]), ("breakout", ["300750"]), ("dropped", ["600000"])] {
            let signals = codes.map { #"{"code":"\#($0)"}"# }.joined(separator: ",")
            let (status, body) = try await HTTP.request("PUT", broker.baseURL + "/api/signals/\(strategy)", body: #"{"signals":[\#(signals)]}"#)
            #expect(status == 200, "PUT \(strategy): \(body)")
        }
        // An empty list removes the strategy: nothing is left to subscribe to.
        _ = try await HTTP.request("PUT", broker.baseURL + "/api/signals/dropped", body: #"{"signals":[]}"#)

        let (status, body) = try await HTTP.request("GET", broker.baseURL + "/api/strategies")
        #expect(status == 200)
        #expect(body["count"] as? Int == 2)
        let rows = try #require(body["strategies"] as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["breakout", "volume_wave"])
        #expect(rows.map { $0["signal_count"] as? Int } == [1, 2])
        _ = dir
    }
}
