import Broker
import Foundation
import TestSupport
import Testing

/// `max_clients_per_address` and `address_connect_rate`: one address cannot take every slot or
/// grow the journal by connecting in a loop, and other addresses are not held back by it; and
/// `max_connections_per_user`, the same for a user whatever addresses it connects from.
@Suite(.serialized)
struct ServerAddressLimitTests {
    /// An upgrade with `headers` that the broker refuses (it answers and closes): the response.
    private static func refusedUpgrade(port: Int, headers: [String: String] = [:]) throws -> String {
        let extra = headers.map { "\($0.key): \($0.value)\r\n" }.joined()
        return try RawWebSocketUpgrade.exchange(
            port: port,
            request: "GET /ws/stock/prices HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(extra)\r\n")
    }

    private static func connected(_ socket: TestWebSocket) async throws -> Bool {
        try await socket.receive()?["type"] as? String == "connected"
    }

    @Test func oneAddressHoldsAtMostItsConnectionsBehindATrustedProxy() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--max-clients-per-address", "2", "--trusted-proxies", "127.0.0.1"])
        let office = ["X-Forwarded-For": "203.0.113.7"]
        let first = TestWebSocket(url: broker.webSocketURL, headers: office)
        let second = TestWebSocket(url: broker.webSocketURL, headers: office)
        #expect(try await Self.connected(first))
        #expect(try await Self.connected(second))

        let refused = try Self.refusedUpgrade(port: broker.port, headers: office)
        #expect(refused.hasPrefix("HTTP/1.1 429"), "\(refused)")
        #expect(refused.contains("too_many_connections_from_address") && refused.contains("203.0.113.7"), "\(refused)")
        // Another address behind the same proxy is its own.
        let elsewhere = TestWebSocket(url: broker.webSocketURL, headers: ["X-Forwarded-For": "203.0.113.8"])
        #expect(try await Self.connected(elsewhere))

        // A closed connection gives its address's slot back (when the broker has seen it close).
        await first.close()
        var admittedAgain = false
        for _ in 0..<50 where !admittedAgain {
            admittedAgain = (try? RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices", headers: office))?.opcode == 0x1
            if !admittedAgain { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(admittedAgain, "the address got its slot back")

        let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
        let refusedUpgrades = (stats["connections"] as? [String: Any])?["refused_upgrades"] as? [String: Any]
        #expect((refusedUpgrades?["too_many_connections_from_address"] as? Int ?? 0) >= 1, "\(stats)")
        for socket in [second, elsewhere] { await socket.close() }
        await broker.terminate()
    }

    @Test func oneUserHoldsAtMostItsConnectionsWhateverItsAddresses() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--max-connections-per-user", "2"],
            environment: ["BROKERD_JWT_SECRET": TestTokens.secret])
        let (alice, bob) = (try await TestTokens.valid(user: "alice"), try await TestTokens.valid(user: "bob"))
        let first = TestWebSocket(url: broker.webSocketURL + "?token=\(alice)")
        let second = TestWebSocket(url: broker.webSocketURL + "?token=\(alice)", headers: ["X-Forwarded-For": "198.51.100.9"])
        #expect(try await Self.connected(first))
        #expect(try await Self.connected(second))

        let refused = try RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices?token=\(alice)")
        #expect(refused.closeCode == 1008 && refused.closeReason == "too many connections for this user", "\(refused.closeReason)")
        // Another user is not held back by alice's connections.
        let other = TestWebSocket(url: broker.webSocketURL + "?token=\(bob)")
        #expect(try await Self.connected(other))

        // A closed connection gives the user's place back (when the broker has seen it close).
        await first.close()
        var admittedAgain = false
        for _ in 0..<50 where !admittedAgain {
            admittedAgain = (try? RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices?token=\(alice)"))?.opcode == 0x1
            if !admittedAgain { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(admittedAgain, "alice got her place back")

        let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
        let refusedUpgrades = (stats["connections"] as? [String: Any])?["refused_upgrades"] as? [String: Any]
        #expect((refusedUpgrades?["too_many_connections_for_user"] as? Int ?? 0) >= 1, "\(stats)")
        // Only sessions that were let in are journaled: two of alice's, one of bob's, and the one after the close.
        let connects = try journaledEvents(broker.journalPath, kinds: [.clientConnected]).count
        #expect(connects == 4)
        for socket in [second, other] { await socket.close() }
        await broker.terminate()
    }

    @Test func aResumeThatTakesOverTheUsersSilentConnectionIsNotOverTheLimit() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--max-connections-per-user", "1"],
            environment: ["BROKERD_JWT_SECRET": TestTokens.secret])
        let alice = try await TestTokens.valid(user: "alice")
        let first = TestWebSocket(url: broker.webSocketURL + "?token=\(alice)")
        let connected = try #require(try await first.receive())
        let (clientID, token) = (try #require(connected["client_id"] as? String), try #require(connected["resume_token"] as? String))
        // Alive and talking: a resume of it is one connection too many.
        let resume = "/ws/stock/prices?token=\(alice)&resume=\(clientID)&since=0&resume_token=\(token)"
        #expect(try RawWebSocketUpgrade.firstFrame(port: broker.port, path: resume).closeReason == "too many connections for this user")
        // Silent for longer than a takeover waits (its network gone, say): the resume replaces it.
        try await Task.sleep(for: .milliseconds(5_300))
        let back = TestWebSocket(url: broker.webSocketURL + "?token=\(alice)&resume=\(clientID)&since=0&resume_token=\(token)")
        let resumed = try #require(try await back.receive())
        #expect(resumed["type"] as? String == "connected" && resumed["resumed"] as? Bool == true, "\(resumed)")
        #expect(try await first.receive(timeout: .seconds(10)) == nil, "the silent connection was closed")
        #expect(try await first.closeFrame()?.reason == "replaced")
        await back.close()
        await broker.terminate()
    }

    @Test func anIPv6ClientIsCountedByItsSlash64() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--max-clients-per-address", "1", "--trusted-proxies", "127.0.0.1"])
        let first = TestWebSocket(url: broker.webSocketURL, headers: ["X-Forwarded-For": "2001:db8::1"])
        #expect(try await Self.connected(first))
        let sameNetwork = try Self.refusedUpgrade(port: broker.port, headers: ["X-Forwarded-For": "2001:db8::2"])
        #expect(sameNetwork.hasPrefix("HTTP/1.1 429") && sameNetwork.contains("2001:db8::/64"), "\(sameNetwork)")
        let otherNetwork = TestWebSocket(url: broker.webSocketURL, headers: ["X-Forwarded-For": "2001:db8:0:1::1"])
        #expect(try await Self.connected(otherNetwork))
        for socket in [first, otherNetwork] { await socket.close() }
        await broker.terminate()
    }

    @Test func anAddressConnectingInALoopIsThrottledAndItsRefusalsJournalNothing() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal, arguments: ["--address-connect-rate", "0.01", "--address-connect-burst", "3"])
        for _ in 0..<3 {
            let frame = try RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices")
            #expect(frame.opcode == 0x1, "connected")
        }
        let refused = try Self.refusedUpgrade(port: broker.port)
        #expect(refused.hasPrefix("HTTP/1.1 429"), "\(refused)")
        #expect(refused.contains("connecting_too_fast"), "\(refused)")
        // 0.01 per second: a token 100 s after the first connect (less the time the three took).
        let retryAfter = refused.split(separator: "\r\n").first { $0.hasPrefix("Retry-After: ") }.flatMap { Int($0.dropFirst(13)) }
        #expect(retryAfter.map { (80...100).contains($0) } == true, "\(refused)")
        let connects = try journaledEvents(journal, kinds: [.clientConnected])
        #expect(connects.count == 3)
        // Logged (at most once per 10 s however often it comes); the log is read as it arrives.
        var logged = false
        for _ in 0..<100 where !logged {
            logged = broker.logText.contains("WebSocket upgrade refused") && broker.logText.contains("connecting_too_fast")
            if !logged { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(logged, "\(broker.logText)")
        await broker.terminate()
    }
}
