import Foundation
import Testing
import TestSupport

@testable import brokerd

/// Reloading the configuration of a running broker (SIGHUP, `POST /api/config/reload`): what it
/// takes applies from the next request or connection on, what needs a restart is named, and a
/// file that does not resolve changes nothing.
@Suite(.serialized) struct ServerConfigReloadTests {
    private static let newSecret = "a-new-secret-of-more-than-32-bytes-for-hs256"

    /// Waits until the broker's log holds `count` lines containing `text`.
    private func waitForLog(_ broker: BrokerProcess, _ text: String, count: Int = 1) async throws -> Bool {
        for _ in 0..<400 {
            if broker.logText.split(separator: "\n").filter({ $0.contains(text) }).count >= count { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return false
    }

    /// Sends one invalid message on a fresh connection and waits for its error: at debug level the
    /// broker logs the refusal ("refused a client message").
    private func sendInvalidMessage(_ broker: BrokerProcess, query: String = "") async throws {
        let client = TestWebSocket(url: broker.webSocketURL + query)
        #expect(try await client.receive()?["type"] as? String == "connected")
        client.sendRaw("not json")
        #expect(try await client.receive(type: "error") != nil)
        await client.close()
    }

    @Test func aSIGHUPAppliesTheReloadableSettingsAndNamesTheOthers() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try """
            log_level = "info"
            [auth]
            admin_token = "first-token"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        let configURL = broker.baseURL + "/api/config"
        #expect(try await HTTP.request("GET", configURL, token: "first-token").0 == 200)
        // Anonymous clients, any page; a refused message is not logged at info.
        try await sendInvalidMessage(broker)
        #expect(try RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices", headers: ["Origin": "https://evil.example"]).opcode == 0x1)

        try """
            log_level = "debug"
            durability = "full"
            journal_cache_mib = 8
            node_id = "renamed"
            [auth]
            admin_token = "second-token"
            jwt_secret = "\(Self.newSecret)"
            allowed_origins = ["https://app.example.com"]
            [limits]
            max_clients = 1
            """.write(toFile: config, atomically: true, encoding: .utf8)
        kill(broker.process.processIdentifier, SIGHUP)
        #expect(try await waitForLog(broker, "configuration reloaded"))
        let warning = broker.logText.split(separator: "\n").first { $0.contains("apply only after a restart") }
        #expect(warning?.contains("node_id") == true, "the restart-only change is named: \(warning ?? "")")

        // The admin token: the old one is wrong now.
        #expect(try await HTTP.request("GET", configURL, token: "first-token").0 == 403)
        let (status, body) = try await HTTP.request("GET", configURL, token: "second-token")
        #expect(status == 200)
        let settings = body["settings"] as? [String: Any]
        #expect(settings?["admin_token"] as? String == "set" && settings?["jwt_secret"] as? String == "set")
        #expect(settings?["max_clients"] as? String == "1" && settings?["durability"] as? String == "full")
        #expect(settings?["journal_cache_mib"] as? String == "8" && settings?["node_id"] as? String != "renamed")
        let last = (body["reloads"] as? [String: Any])?["last"] as? [String: Any]
        #expect(last?["result"] as? String == "applied")
        #expect(last?["applied"] as? [String] == [
            "durability", "journal_cache_mib", "log_level", "max_clients", "admin_token", "jwt_secret", "allowed_origins",
        ])
        #expect(last?["restart_required"] as? [String] == ["node_id"])
        let journal = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats").1["journal"] as? [String: Any]
        #expect(journal?["durability"] as? String == "full", "the journal's commits wait for the disk from the reload on")
        #expect(journal?["cache_mib"] as? Int == 8, "and its page cache is the new size")
        #expect(!broker.logText.contains("second-token") && !broker.logText.contains(Self.newSecret))

        // Client authentication is on, with the new secret.
        let refused = try RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices")
        #expect(refused.opcode == 0x8 && refused.closeCode == 1008 && refused.closeReason == "token required")
        let forged = try await TestTokens.valid(user: "alice")  // signed with the tests' usual secret, not the new one
        #expect(try RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices?token=\(forged)").closeCode == 1008)
        let token = try await TestTokens.sign(
            ClientClaims(subject: "alice", expiration: Date().addingTimeInterval(3_600)), secret: Self.newSecret)
        // Debug level: the refused message is logged now.
        try await sendInvalidMessage(broker, query: "?token=\(token)")
        #expect(try await waitForLog(broker, "refused a client message"))
        #expect(broker.logText.split(separator: "\n").filter { $0.contains("refused a client message") }.count == 1, "not at info")
        // Another page is refused; max_clients 1 holds with one connection open.
        let evil = try RawWebSocketUpgrade.exchange(
            port: broker.port,
            request: "GET /ws/stock/prices?token=\(token) HTTP/1.1\r\nHost: 127.0.0.1:\(broker.port)\r\nUpgrade: websocket\r\n"
                + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                + "Origin: https://evil.example\r\n\r\n")
        #expect(evil.hasPrefix("HTTP/1.1 403") && evil.contains("origin_not_allowed"), "\(evil.prefix(200))")
        let held = TestWebSocket(url: broker.webSocketURL + "?token=\(token)")
        #expect(try await held.receive()?["type"] as? String == "connected")
        let full = try RawWebSocketUpgrade.exchange(
            port: broker.port,
            request: "GET /ws/stock/prices?token=\(token) HTTP/1.1\r\nHost: 127.0.0.1:\(broker.port)\r\nUpgrade: websocket\r\n"
                + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(full.hasPrefix("HTTP/1.1 503") && full.contains("too_many_clients"), "\(full.prefix(200))")
        await held.close()
        #expect(await broker.terminate() == 0)
    }

    @Test func aReloadedLogFormatIsEveryLoggersFromItsNextLine() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "log_format = \"text\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        let (status, body) = try await broker.reload(writing: "log_format = \"json\"\n", to: config)
        #expect(status == 200 && body["applied"] as? [String] == ["log_format"], "\(body)")
        #expect(try await waitForLog(broker, #""message":"configuration reloaded""#))
        // The logger made at start-up (swift-log copies a handler into each) writes JSON from the
        // reload's line on, the stop's lines too.
        #expect(await broker.terminate() == 0)
        let lines = broker.logText.split(separator: "\n")
        let reloaded = try #require(lines.firstIndex { $0.contains("configuration reloaded") })
        #expect(lines[..<reloaded].contains { $0.contains("[brokerd] listening") }, "text before the reload")
        let after = lines[reloaded...].map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(after.count >= 3 && after.allSatisfy { $0 != nil }, "\(lines[reloaded...])")
        #expect(after.first??["log_format"] as? String == "text -> json")
        #expect(after.contains { $0?["message"] as? String == "shutting down" }, "\(lines[reloaded...])")
    }

    /// A reloaded `resume_window` is the window of the sessions that disconnect after it; one that
    /// disconnected before keeps the deadline journaled with its disconnect.
    @Test func aReloadedResumeWindowIsTheWindowOfSessionsThatDisconnectAfterIt() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "resume_window = 300\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        func connectAndLeave() async throws -> String {
            let client = TestWebSocket(url: broker.webSocketURL)
            let clientID = try #require(try await client.receive()?["client_id"] as? String)
            await client.close()
            // Its disconnect is journaled when the connection is gone from the list.
            for _ in 0..<200 {
                let (_, body) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
                if (body["clients"] as? [Any])?.isEmpty == true { break }
                try await Task.sleep(for: .milliseconds(25))
            }
            return clientID
        }
        let before = try await connectAndLeave()

        try "resume_window = 0\n".write(toFile: config, atomically: true, encoding: .utf8)
        let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/config/reload")
        #expect(status == 200 && body["applied"] as? [String] == ["resume_window"], "\(body)")
        let after = try await connectAndLeave()

        let resumedBefore = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(before, since: "0"))
        let first = try #require(try await resumedBefore.receive())
        #expect(first["resumed"] as? Bool == true && first["client_id"] as? String == before, "\(first)")
        await resumedBefore.close()
        let resumedAfter = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(after, since: "0"))
        let fresh = try #require(try await resumedAfter.receive())
        #expect(fresh["resumed"] as? Bool == false && fresh["client_id"] as? String != after, "\(fresh)")
        #expect(try await resumedAfter.receive()?["error"] as? String == "resume_failed")
        await resumedAfter.close()
        #expect(await broker.terminate() == 0)
    }

    /// A reloaded `outbound_queue` is the queue of the connections opened after it; one open keeps
    /// the queue it was given (`queue_capacity` in the list of clients).
    @Test func aReloadedOutboundQueueIsTheQueueOfConnectionsOpenedAfterIt() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "[limits]\noutbound_queue = 1024\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        func connect() async throws -> (TestWebSocket, String) {
            let client = TestWebSocket(url: broker.webSocketURL)
            return (client, try #require(try await client.receive()?["client_id"] as? String))
        }
        let (before, beforeID) = try await connect()
        try "[limits]\noutbound_queue = 64\n".write(toFile: config, atomically: true, encoding: .utf8)
        let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/config/reload")
        #expect(status == 200 && body["applied"] as? [String] == ["outbound_queue"], "\(body)")
        let (after, afterID) = try await connect()
        let (_, listed) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
        let capacities = Dictionary(
            (listed["clients"] as? [[String: Any]] ?? []).map { ($0["client_id"] as? String ?? "", $0["queue_capacity"] as? Int) },
            uniquingKeysWith: { $1 })
        #expect(capacities == [beforeID: 1024, afterID: 64], "\(listed)")
        for client in [before, after] { await client.close() }
        #expect(await broker.terminate() == 0)
    }

    @Test func theClientLimitsAreReloadedAndAPerAddressLimitCountsTheConnectionsOpen() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "[limits]\nmax_subscriptions_per_client = 1\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        let (first, second) = (TestWebSocket(url: broker.webSocketURL), TestWebSocket(url: broker.webSocketURL))
        for client in [first, second] { #expect(try await client.receive()?["type"] as? String == "connected") }
        try first.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        #expect(try await first.receive(type: "subscribed") != nil)
        try first.send(["type": "subscribe", "subscription_type": "stock", "target": "000001"])
        #expect(try await first.receive(type: "error")?["error"] as? String == "too_many_subscriptions")

        try "shutdown_drain = 1\n[limits]\nmax_subscriptions_per_client = 2\nmax_clients_per_address = 2\n"
            .write(toFile: config, atomically: true, encoding: .utf8)
        let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/config/reload")
        #expect(status == 200, "\(body)")
        #expect(body["applied"] as? [String] == ["shutdown_drain", "max_subscriptions_per_client", "max_clients_per_address"], "\(body)")
        #expect((body["restart_required"] as? [String])?.isEmpty == true, "\(body)")

        try first.send(["type": "subscribe", "subscription_type": "stock", "target": "000001"])
        #expect(try await first.receive(type: "subscribed")?["target"] as? String == "000001")
        // The two connections this address opened before the limit count: a third is refused.
        let upgrade = "GET /ws/stock/prices HTTP/1.1\r\nHost: 127.0.0.1:\(broker.port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let refused = try RawWebSocketUpgrade.exchange(port: broker.port, request: upgrade)
        #expect(refused.hasPrefix("HTTP/1.1 429") && refused.contains("too_many_connections_from_address"), "\(refused.prefix(200))")
        await second.close()
        var admitted: RawWebSocketUpgrade.Frame?
        for _ in 0..<100 where admitted == nil {
            // Refused (429) until the broker has seen the close.
            admitted = try? RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices")
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(admitted?.opcode == 0x1, "one closed, the address is under its limit: connected")

        // The drain set by the reload is the one the stop takes.
        #expect(await broker.terminate() == 0)
        #expect(broker.logText.contains("seconds=1 [brokerd] draining"), "\(broker.logText.suffix(800))")
    }

    @Test func theHeartbeatTimeoutAndTheFrameSizeAreReloaded() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "[limits]\nmax_frame_bytes = 1024\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        let idle = TestWebSocket(url: broker.webSocketURL)
        #expect(try await idle.receive()?["type"] as? String == "connected")
        // A ping padded to 70,000 bytes: 1,024 allowed, so NIO cuts it off at its cap, 64 KiB.
        let paddedPing = #"{"type":"ping"}"# + String(repeating: " ", count: 70_000)
        let before = TestWebSocket(url: broker.webSocketURL)
        _ = try await before.receive()
        before.sendRaw(paddedPing)
        while try await before.receive() != nil {}
        #expect(try await before.closeFrame()?.closeCode == .messageTooLarge)

        try "heartbeat_timeout = 1\n[limits]\nmax_frame_bytes = 100000\n".write(toFile: config, atomically: true, encoding: .utf8)
        let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/config/reload")
        #expect(status == 200, "\(body)")
        #expect(body["applied"] as? [String] == ["heartbeat_timeout", "max_frame_bytes"], "\(body)")

        // A connection opened after the reload takes the same ping.
        let after = TestWebSocket(url: broker.webSocketURL)
        _ = try await after.receive()
        after.sendRaw(paddedPing)
        #expect(try await after.receive(type: "pong") != nil)
        // The connection open since before, silent for more than the new second: closed.
        while try await idle.receive(timeout: .seconds(10)) != nil {}
        #expect(try await idle.closeFrame()?.reason == "heartbeat_timeout")
        // An HTTP connection kept alive after the reload is closed after a second's silence; it
        // throws if left open 10 s (the timeout it had was 90 s).
        let response = try RawWebSocketUpgrade.exchange(port: broker.port, request: "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(response.hasPrefix("HTTP/1.1 200"), "the request was answered first: \(response)")
        #expect(await broker.terminate() == 0)
    }

    @Test func aConfigurationThatDoesNotResolveChangesNothingAndSaysWhy() async throws {
        let dir = try TemporaryDirectory()
        let config = dir.path("brokerd.toml")
        try "[auth]\nadmin_token = \"kept-token\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--config", config])
        let reloadURL = broker.baseURL + "/api/config/reload"

        // Nothing changed: applied, with nothing in it.
        let (unchanged, same) = try await HTTP.request("POST", reloadURL, token: "kept-token")
        #expect(unchanged == 200 && same["result"] as? String == "applied" && (same["applied"] as? [String])?.isEmpty == true)

        // A bad value: 422 naming it, and the admin token in force is still the old one.
        try "[auth]\nadmin_token = \"new-token\"\n[limits]\nburst = 0\n".write(toFile: config, atomically: true, encoding: .utf8)
        let (status, body) = try await HTTP.request("POST", reloadURL, token: "kept-token")
        #expect(status == 422 && body["error"] as? String == "invalid_configuration")
        #expect((body["details"] as? String)?.contains("limits.burst") == true, "\(body)")
        #expect(try await HTTP.request("GET", broker.baseURL + "/api/config", token: "new-token").0 == 403)
        // By SIGHUP: logged, the broker keeps running.
        try "not = [valid".write(toFile: config, atomically: true, encoding: .utf8)
        kill(broker.process.processIdentifier, SIGHUP)
        #expect(try await waitForLog(broker, "configuration not reloaded", count: 2))
        let (readStatus, read) = try await HTTP.request("GET", broker.baseURL + "/api/config", token: "kept-token")
        #expect(readStatus == 200)
        let reloads = read["reloads"] as? [String: Any]
        #expect(reloads?["count"] as? Int == 3 && reloads?["failed"] as? Int == 2)
        #expect(((reloads?["last"] as? [String: Any])?["error"] as? String)?.contains("invalid config file") == true, "\(read)")
        let samples = try await metricSamples(of: broker)
        #expect(samples.value("brokerd_config_reloads_total", ["result": "failed"]) == 2)
        #expect(samples.value("brokerd_config_reloads_total", ["result": "applied"]) == 1)
        #expect(await broker.terminate() == 0)
    }

    @Test func theIssuersKeyIsRotatedByReplacingItsFileAndReloading() async throws {
        let dir = try TemporaryDirectory()
        let keyPath = dir.path("issuer.pub.pem")
        let (first, second) = (PublicKeyTokenTests.ECIssuer(), PublicKeyTokenTests.ECIssuer())
        try first.pem.write(toFile: keyPath, atomically: true, encoding: .utf8)
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--jwt-public-key", keyPath, "--jwt-audience", "brokerd"])
        func claims(audience: [String]? = ["brokerd"]) -> ClientClaims {
            ClientClaims(subject: "alice", expiration: Date().addingTimeInterval(3_600), audience: audience)
        }
        func closeReason(_ token: String) throws -> String? {
            try RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices?token=\(token)").closeReason
        }
        let firstToken = try await first.sign(claims())
        let client = TestWebSocket(url: broker.webSocketURL + "?token=\(firstToken)")
        #expect(try await client.receive()?["type"] as? String == "connected")
        #expect(try closeReason(try await first.sign(claims(audience: ["other"]))) == "token audience not accepted")
        #expect(try closeReason(try await TestTokens.valid(user: "alice")) == "token algorithm not accepted (ES256 only)")

        try second.pem.write(toFile: keyPath, atomically: true, encoding: .utf8)
        let (status, body) = try await HTTP.request("POST", broker.baseURL + "/api/config/reload")
        #expect(status == 200 && body["applied"] as? [String] == ["jwt_public_key"], "\(body)")
        #expect(try closeReason(firstToken) == "invalid token signature")
        let rotated = TestWebSocket(url: broker.webSocketURL + "?token=\(try await second.sign(claims()))")
        #expect(try await rotated.receive()?["type"] as? String == "connected")
        // The connection the old key let in stays.
        try client.send(["type": "ping"])
        #expect(try await client.receive(type: "pong") != nil)
        await client.close()
        await rotated.close()
        #expect(await broker.terminate() == 0)
    }
}
