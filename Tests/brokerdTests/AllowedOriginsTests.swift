import Testing
import TestSupport

@testable import brokerd

/// Which browser pages `allowed_origins` lets in, and what it refuses as an entry.
struct AllowedOriginsTests {
    @Test func listedOriginsAndTheBrokersOwnPagesAreAllowed() throws {
        let allowed = try #require(AllowedOrigins(["https://app.example.com", "http://localhost:3000"]))
        #expect(allowed.permits(origin: "https://app.example.com", host: "broker.example.com"))
        #expect(allowed.permits(origin: "HTTPS://App.Example.com", host: nil), "origins compare without case")
        #expect(allowed.permits(origin: "http://localhost:3000", host: "127.0.0.1:8000"))
        // The broker's own console: the page's host and port are the request's Host.
        #expect(allowed.permits(origin: "http://127.0.0.1:8000", host: "127.0.0.1:8000"))
        #expect(!allowed.permits(origin: "https://evil.example", host: "broker.example.com"))
        #expect(!allowed.permits(origin: "http://app.example.com", host: "broker.example.com"), "another scheme is another origin")
        #expect(!allowed.permits(origin: "https://app.example.com.evil.example", host: nil))
        #expect(!allowed.permits(origin: "null", host: "broker.example.com"))
        // Not a browser: WebSocket libraries that name the socket's URL (swift-websocket's client).
        #expect(allowed.permits(origin: "ws://127.0.0.1", host: "127.0.0.1:8000"))
        #expect(allowed.permits(origin: "WSS://broker.example.com", host: "broker.example.com"))
        #expect(try #require(AllowedOrigins(["*"])).permits(origin: "https://anyone.example", host: nil))
        #expect(AllowedOrigins([]) == nil, "nothing listed: no check")
    }

    @Test func anEntryMustBeAnOriginAsBrowsersSendIt() {
        for good in ["*", "https://app.example.com", "http://localhost:8000", "https://[::1]:8443", "http://[::1]"] {
            #expect(AllowedOrigins.problem(good) == nil, "\(good)")
        }
        for bad in ["app.example.com", "ftp://x", "https://", "https://app.example.com/", "https://a.example/path",
            "https://user@a.example", "https://a.example:0", "https://a.example:http", "https://a example"] {
            #expect(AllowedOrigins.problem(bad) != nil, "\(bad)")
        }
    }
}

/// `allowed_origins` on a real broker: WebSocket upgrades from other pages are refused, listed
/// pages get CORS on the HTTP API, clients that are not browsers are not affected.
@Suite(.serialized) struct ServerAllowedOriginsTests {
    private func upgrade(_ broker: BrokerProcess, origin: String?) throws -> String {
        let originLine = origin.map { "Origin: \($0)\r\n" } ?? ""
        // Closed by the client right after the 101: the answer's head is all this looks at.
        return try RawWebSocketUpgrade.exchange(
            port: broker.port,
            request: "GET /ws/stock/prices HTTP/1.1\r\nHost: 127.0.0.1:\(broker.port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(originLine)\r\n")
    }

    private func request(_ broker: BrokerProcess, _ method: String, _ path: String, headers: [String: String]) throws -> RawHTTP.Response {
        let lines = headers.map { "\($0.key): \($0.value)\r\n" }.joined()
        return try RawHTTP.exchange(
            port: broker.port, request: "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(broker.port)\r\nConnection: close\r\n\(lines)\r\n")
    }

    @Test func aPageOfAnotherOriginIsRefusedAndAListedOneGetsTheBrokerAndItsAPI() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--allowed-origins", "https://app.example.com"])

        let refused = try upgrade(broker, origin: "https://evil.example")
        #expect(refused.hasPrefix("HTTP/1.1 403") && refused.contains("origin_not_allowed"), "\(refused.prefix(300))")
        for origin in ["https://app.example.com", "http://127.0.0.1:\(broker.port)", nil] {
            let frame = try RawWebSocketUpgrade.firstFrame(
                port: broker.port, path: "/ws/stock/prices", headers: origin.map { ["Origin": $0] } ?? [:])
            #expect(frame.opcode == 0x1 && String(decoding: frame.payload, as: UTF8.self).contains(#""connected""#), "\(origin ?? "no origin")")
        }
        // swift-websocket's client (the Swift client's) sends `Origin: ws://127.0.0.1`: not a page.
        let swiftClient = TestWebSocket(url: broker.webSocketURL)
        #expect(try await swiftClient.receive()?["type"] as? String == "connected")
        await swiftClient.close()
        let samples = try await metricSamples(of: broker)
        #expect(samples.value("brokerd_upgrades_refused_total", ["error": "origin_not_allowed"]) == 1)

        // CORS for the listed page: the answer names it; a preflight is answered.
        let read = try request(broker, "GET", "/api/prices?market=sh", headers: ["Origin": "https://app.example.com"])
        #expect(read.status == 200 && read.headers["access-control-allow-origin"] == "https://app.example.com", "\(read.headers)")
        let preflight = try request(
            broker, "OPTIONS", "/api/prices?market=sh",
            headers: ["Origin": "https://app.example.com", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"])
        #expect(preflight.status == 204, "\(preflight)")
        #expect(preflight.headers["access-control-allow-headers"]?.lowercased().contains("authorization") == true, "\(preflight.headers)")
        #expect(preflight.headers["access-control-allow-methods"]?.contains("GET") == true)
        // Another page gets none, which its browser takes as a refusal.
        let other = try request(broker, "GET", "/api/prices?market=sh", headers: ["Origin": "https://evil.example"])
        #expect(other.status == 200 && other.headers["access-control-allow-origin"] == nil, "\(other.headers)")
        #expect(await broker.terminate() == 0)
    }

    @Test func withoutTheSettingAnyOriginConnectsAsBefore() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let frame = try RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices", headers: ["Origin": "https://evil.example"])
        #expect(frame.opcode == 0x1)
        let read = try request(broker, "GET", "/api/prices?market=sh", headers: ["Origin": "https://evil.example"])
        #expect(read.status == 200 && read.headers["access-control-allow-origin"] == nil)
        #expect(await broker.terminate() == 0)
    }
}
