import Broker
import Foundation
import Testing
import TestSupport

@testable import brokerd

/// `shutdown_drain` on a real broker: SIGTERM closes the clients a few at a time while the broker
/// still serves the rest (ticks included) and refuses new ones, then stops as always.
@Suite(.serialized) struct ServerDrainTests {
    @Test func aDrainingBrokerServesItsClientsUntilItClosesThemAndTakesNoNewOnes() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal, arguments: ["--shutdown-drain", "6"])
        var clients: [TestWebSocket] = []
        for _ in 0..<10 {
            let client = TestWebSocket(url: broker.webSocketURL)
            #expect(try await client.receive()?["type"] as? String == "connected")
            try client.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
            #expect(try await client.receive(type: "subscribed") != nil)
            clients.append(client)
        }

        broker.process.terminate()
        var readiness: (Int, [String: Any]) = (0, [:])
        for _ in 0..<200 {
            readiness = try await HTTP.request("GET", broker.baseURL + "/readyz")
            if readiness.0 == 503 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(readiness.0 == 503 && readiness.1["error"] as? String == "draining", "\(readiness)")
        // New clients go elsewhere; ingest goes on, and reaches the clients not yet closed.
        let refused = try RawWebSocketUpgrade.exchange(
            port: broker.port,
            request: "GET /ws/stock/prices HTTP/1.1\r\nHost: 127.0.0.1:\(broker.port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        #expect(refused.hasPrefix("HTTP/1.1 503") && refused.contains("draining"), "\(refused.prefix(200))")
        let tick = #"{"ticks":[{"code":"600519","name":"贵州茅台","price":1850.5,"volume":100,"prev_close":1825.2}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: tick).0 == 200)

        var served = 0
        for client in clients {
            // Until its close: the price if it came first, then nothing.
            while let message = try await client.receive(timeout: .seconds(20)) {
                if message["type"] as? String == "price_update",
                    (message["data"] as? [[String: Any]])?.first?["price"] as? Double == 1850.5
                {
                    served += 1
                }
            }
            #expect(try await client.closeFrame()?.closeCode == .goingAway)
        }
        #expect(served >= 1, "a client was still served after the drain began")
        #expect(await broker.waitForExit() == 0)
        #expect(broker.logText.contains("clients=10 seconds=6 [brokerd] draining"), "\(broker.logText.suffix(800))")
        #expect(broker.logText.contains("closed=10 [brokerd] drained"), "\(broker.logText.suffix(800))")
        var reasons: [DisconnectReason] = []
        for case .clientDisconnected(let disconnected) in try journaledEvents(journal, kinds: [.clientDisconnected]) {
            reasons.append(disconnected.reason)
        }
        #expect(reasons == Array(repeating: .shutdown, count: 10))
    }

    @Test func aSecondSignalCutsTheDrainShort() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--shutdown-drain", "600"])
        var clients: [TestWebSocket] = []
        for _ in 0..<3 {
            let client = TestWebSocket(url: broker.webSocketURL)
            #expect(try await client.receive()?["type"] as? String == "connected")
            clients.append(client)
        }
        broker.process.terminate()
        for _ in 0..<200 {
            if try await HTTP.request("GET", broker.baseURL + "/readyz").0 == 503 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        // One closed at once; the others would wait for minutes.
        try await Task.sleep(for: .milliseconds(200))
        broker.process.terminate()
        let exited = await withTaskGroup(of: Bool.self) { group in
            group.addTask { _ = await broker.waitForExit(); return true }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                // Still draining: end it, so the wait above ends too (not when cancelled: it exited).
                if !Task.isCancelled && broker.process.isAlive { kill(broker.process.processIdentifier, SIGKILL) }
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        #expect(exited, "the second SIGTERM did not end the drain")
        // Not `terminationStatus`: Foundation traps on it while it has not seen the end itself.
        #expect(broker.process.endedStatus == 0)
        for client in clients { #expect(try await client.closeFrame()?.closeCode == .goingAway) }
        #expect(broker.logText.contains("drain cut short by a second signal"), "\(broker.logText.suffix(600))")
    }
}
