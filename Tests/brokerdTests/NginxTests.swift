import Broker
import Foundation
import Testing
import TestSupport

/// The shipped `Config/nginx.conf` run by a real nginx in front of real brokerd processes.
@Suite(.serialized) struct NginxTests {
    /// `connected` goes out a moment before the connection is listed: asked until it is.
    private func remoteAddress(of clientID: String, on broker: BrokerProcess) async throws -> String? {
        for _ in 0..<200 {
            let (status, body) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
            #expect(status == 200)
            let clients = (body["clients"] as? [[String: Any]]) ?? []
            if let client = clients.first(where: { $0["client_id"] as? String == clientID }) { return client["remote"] as? String }
            try await Task.sleep(for: .milliseconds(10))
        }
        return nil
    }

    private func connectedAddresses(in journal: String) throws -> [String: String] {
        var addresses: [String: String] = [:]
        for case .clientConnected(let connected) in try journaledEvents(journal, kinds: [.clientConnected]) {
            addresses[connected.clientID] = connected.remoteAddress
        }
        return addresses
    }

    @Test func aClientThroughNginxSubscribesAndGetsTheTicksPostedThroughNginx() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"), arguments: ["--node-id", "edge-1"])
        let nginx = try await NginxProcess(upstreamPorts: [broker.port])

        #expect(try await HTTP.request("GET", nginx.baseURL + "/readyz").0 == 200)
        // Offering permessage-deflate, as browsers do: nginx passes the negotiation through.
        let socket = TestWebSocket(url: nginx.webSocketURL, compression: true)
        #expect(try await socket.receive()?["type"] as? String == "connected")
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        #expect(try await socket.receive(type: "subscribed") != nil)
        #expect(try await socket.receive(type: "price_update") != nil, "the subscription's snapshot")
        let (_, clients) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
        #expect((clients["clients"] as? [[String: Any]])?.first?["compression"] as? Bool == true, "\(clients)")

        let ticks = #"{"ticks":[{"code":"600519","name":"贵州茅台","price":1850.5,"volume":100,"prev_close":1825.2}]}"#
        let (status, body) = try await HTTP.request("POST", nginx.baseURL + "/api/ticks", body: ticks)
        #expect(status == 200, "POST through nginx: \(body)")
        let update = try await socket.receive(type: "price_update")
        #expect((update?["data"] as? [[String: Any]])?.first?["price"] as? Double == 1850.5)
        try socket.send(["type": "ping"])
        #expect(try await socket.receive(type: "pong") != nil)

        let (statsStatus, stats) = try await HTTP.request("GET", nginx.baseURL + "/api/websocket/stats")
        #expect(statsStatus == 200 && stats["node"] as? String == "edge-1")
        // nginx refuses what the broker would refuse anyway, before it reaches the broker: by the
        // announced length, so no body is sent (a client still writing 4 MiB when nginx answered
        // and closed once failed this test with "I/O on closed channel" instead of the 413).
        let oversized = try RawHTTP.exchange(
            port: nginx.port,
            request: "POST /api/ticks HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n"
                + "Content-Length: \(4 * 1024 * 1024 + 1)\r\n\r\n")
        #expect(oversized.status == 413)

        await socket.close()
        #expect(await broker.terminate() == 0)
        nginx.stop()
    }

    @Test func withAllowedOriginsThePagesNginxServesAreTheBrokersOwnAndOthersAreRefused() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"), arguments: ["--allowed-origins", "https://app.example.com"])
        let nginx = try await NginxProcess(upstreamPorts: [broker.port])
        // The console's page, served through nginx: its origin is nginx's host and port.
        for origin in ["http://127.0.0.1:\(nginx.port)", "https://app.example.com"] {
            let frame = try RawWebSocketUpgrade.firstFrame(port: nginx.port, path: "/ws/stock/prices", headers: ["Origin": origin])
            #expect(frame.opcode == 0x1, "\(origin)")
        }
        #expect(throws: RawWebSocketUpgrade.Failure.self) {
            try RawWebSocketUpgrade.firstFrame(port: nginx.port, path: "/ws/stock/prices", headers: ["Origin": "https://evil.example"])
        }
        #expect(await broker.terminate() == 0)
        nginx.stop()
    }

    @Test func theAccessLogLeavesOutQueryStringsWhereCredentialsTravel() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"))
        let nginx = try await NginxProcess(upstreamPorts: [broker.port])
        let socket = TestWebSocket(url: nginx.webSocketURL + "?resume=client_00000001&since=0&resume_token=5ec7e75ec7e7")
        #expect(try await socket.receive()?["type"] as? String == "connected")
        await socket.close()
        // A client that can set headers sends its resume token in one, which nginx passes on.
        let first = TestWebSocket(url: nginx.webSocketURL)
        let connected = try #require(try await first.receive())
        let (clientID, token) = (try #require(connected["client_id"] as? String), try #require(connected["resume_token"] as? String))
        await first.close()
        let again = TestWebSocket(url: nginx.webSocketURL + "?resume=\(clientID)&since=0", headers: ["Brokerd-Resume-Token": token])
        let resumed = try #require(try await again.receive())
        #expect(resumed["resumed"] as? Bool == true && resumed["client_id"] as? String == clientID, "\(resumed)")
        await again.close()
        #expect(try await HTTP.request("GET", nginx.baseURL + "/api/signals/buy?strategy=s3cr3t").0 == 200)
        nginx.stop()
        let log = try String(contentsOfFile: nginx.directory.path("access.log"), encoding: .utf8)
        #expect(log.contains("GET /ws/stock/prices HTTP/1.1") && log.contains("GET /api/signals/buy HTTP/1.1"), "\(log)")
        #expect(!log.contains("5ec7e75ec7e7") && !log.contains("s3cr3t"), "\(log)")
        #expect(await broker.terminate() == 0)
    }

    /// A node draining before it stops refuses upgrades with 503; nginx tries the other node, so
    /// a client connects at once (the clients the draining node closes reconnect the same way).
    @Test func anUpgradeANodeRefusesWhileDrainingGoesToTheOtherNode() async throws {
        let dir = try TemporaryDirectory()
        let nodes = [
            try await BrokerProcess(journal: dir.path("a.sqlite"), arguments: ["--node-id", "node-a", "--shutdown-drain", "30"]),
            try await BrokerProcess(journal: dir.path("b.sqlite"), arguments: ["--node-id", "node-b", "--shutdown-drain", "30"]),
        ]
        let nginx = try await NginxProcess(upstreamPorts: nodes.map(\.port))
        func connections(_ node: BrokerProcess) async throws -> Int {
            try await HTTP.request("GET", node.baseURL + "/api/websocket/clients").1["clients"].map { ($0 as? [Any])?.count ?? -1 } ?? -1
        }
        // ip_hash pins this address to one node: the one that gets these two clients. With two,
        // the drain (30 s) closes one at once and the other only after 15 s: meanwhile the node
        // listens and refuses upgrades.
        let pinnedClients = [TestWebSocket(url: nginx.webSocketURL), TestWebSocket(url: nginx.webSocketURL)]
        for client in pinnedClients { #expect(try await client.receive()?["type"] as? String == "connected") }
        var pinned: BrokerProcess?
        for _ in 0..<200 where pinned == nil {
            for node in nodes where try await connections(node) == 2 { pinned = node }
            if pinned == nil { try await Task.sleep(for: .milliseconds(10)) }
        }
        let draining = try #require(pinned)
        let other = try #require(nodes.first { $0 !== draining })

        draining.process.terminate()
        for _ in 0..<200 {
            if try await HTTP.request("GET", draining.baseURL + "/readyz").0 == 503 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        // The pinned node is draining: a new client lands on the other at once.
        let next = TestWebSocket(url: nginx.webSocketURL)
        #expect(try await next.receive()?["type"] as? String == "connected")
        #expect(try await connections(other) == 1)
        var left = -1
        for _ in 0..<200 {
            left = try await connections(draining)
            if left == 1 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(left == 1, "the draining node closed one client at once and still serves the other")
        #expect(try await HTTP.request("GET", draining.baseURL + "/readyz").1["error"] as? String == "draining")
        await next.close()
        await draining.kill9()
        #expect(await other.terminate() == 0)
        nginx.stop()
    }

    @Test func newWebSocketConnectionsFromOneAddressAreRateLimited() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"))
        let nginx = try await NginxProcess(upstreamPorts: [broker.port])
        // Plain GETs of the endpoint (426 from the broker) count as the upgrades would: a burst of
        // 200 passes, then no more than 20 a second; asked as fast as they are answered, one is
        // refused soon after the burst (however slow the machine, long before 2,000).
        var statuses: [Int: Int] = [:]
        for _ in 0..<2_000 where statuses[429] == nil {
            statuses[try RawHTTP.get(port: nginx.port, path: "/ws/stock/prices").status, default: 0] += 1
        }
        #expect((statuses[426] ?? 0) >= 200 && statuses[429] == 1, "\(statuses)")
        #expect(try await HTTP.request("GET", nginx.baseURL + "/healthz").0 == 200, "other locations are not limited by it")
        #expect(await broker.terminate() == 0)
        nginx.stop()
    }

    @Test func theBrokerBelievesXForwardedForOnlyFromATrustedProxy() async throws {
        let dir = try TemporaryDirectory()
        let trusting = try await BrokerProcess(journal: dir.path("trusting.sqlite"), arguments: ["--trusted-proxies", "127.0.0.1"])
        let distrusting = try await BrokerProcess(journal: dir.path("distrusting.sqlite"))
        let nginx = try await NginxProcess(upstreamPorts: [trusting.port])
        let nginxToDistrusting = try await NginxProcess(upstreamPorts: [distrusting.port])
        // Clients connect from 127.0.0.2; nginx connects to the brokers from 127.0.0.1.
        let forged = ("X-Forwarded-For", "203.0.113.7")

        // Through the trusted nginx: the client nginx saw, not what the client wrote in the header.
        let proxied = try BoundWebSocket(port: nginx.port, from: "127.0.0.2", headers: [forged])
        let proxiedID = try #require(try proxied.receive()["client_id"] as? String)
        #expect(try await remoteAddress(of: proxiedID, on: trusting) == "127.0.0.2")

        // Straight to the broker with a forged header: the peer is no trusted proxy, so the header is ignored.
        let direct = try BoundWebSocket(port: trusting.port, from: "127.0.0.2", headers: [forged])
        let directID = try #require(try direct.receive()["client_id"] as? String)
        #expect(try await remoteAddress(of: directID, on: trusting) == "127.0.0.2")

        // A broker that trusts no proxy sees nginx.
        let untrusted = try BoundWebSocket(port: nginxToDistrusting.port, from: "127.0.0.2", headers: [forged])
        let untrustedID = try #require(try untrusted.receive()["client_id"] as? String)
        #expect(try await remoteAddress(of: untrustedID, on: distrusting) == "127.0.0.1")

        // The journal's connect events and the log lines say the same.
        let trustingAddresses = try connectedAddresses(in: trusting.journalPath)
        #expect(trustingAddresses[proxiedID] == "127.0.0.2" && trustingAddresses[directID] == "127.0.0.2")
        #expect(try connectedAddresses(in: distrusting.journalPath)[untrustedID] == "127.0.0.1")
        #expect(trusting.logText.contains("client=\(proxiedID) remote=127.0.0.2"))
        #expect(!trusting.logText.contains("203.0.113.7") && !distrusting.logText.contains("203.0.113.7"), "the forged address is believed nowhere")

        for socket in [proxied, direct, untrusted] { socket.close() }
        #expect(await trusting.terminate() == 0)
        #expect(await distrusting.terminate() == 0)
        nginx.stop()
        nginxToDistrusting.stop()
    }

    /// With no admin token set, nginx is what keeps ingest, admin routes and metrics to the inside
    /// of the network; trailing slashes (which brokerd's router accepts) must not get around it.
    @Test func fromOutsideTheNetworkNginxRefusesIngestAdminAndMetricsButServesReads() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("journal.sqlite"))
        let nginx = try await NginxProcess(upstreamPorts: [broker.port])
        let tick = #"{"ticks":[{"code":"600519","name":"贵州茅台","price":1.0,"volume":1,"prev_close":1825.2}]}"#
        func lastSeq() async throws -> Int? {
            (try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats").1["journal"] as? [String: Any])?["last_seq"] as? Int
        }
        let seqBefore = try #require(try await lastSeq())

        // 127.0.0.2 is outside the shipped allow list.
        for (method, path, body) in [
            ("POST", "/api/ticks", tick), ("POST", "/api/ticks/", tick), ("PUT", "/api/signals/x", #"{"signals":[]}"#),
            ("DELETE", "/api/alerts/rules/r1", nil), ("GET", "/api/websocket/clients", nil), ("GET", "/api/websocket/clients/", nil),
            ("GET", "/api/websocket//clients", nil), ("DELETE", "/api/websocket/clients/client_00000000", nil),
            ("GET", "/api/websocket/clients/client_00000000", nil), ("GET", "/api/alerts/rules", nil), ("GET", "/api/alerts/rules/?user=alice", nil),
            ("GET", "/api/websocket/subscriptions", nil), ("GET", "/api/websocket/subscriptions/?type=stock", nil), ("GET", "/metrics", nil), ("GET", "/metrics/", nil), ("GET", "/metrics//", nil),
            ("GET", "/api/config", nil), ("GET", "/api/config/", nil), ("POST", "/api/config/reload", nil),
        ] as [(String, String, String?)] {
            let response = try RawHTTP.send(method, port: nginx.port, path: path, body: body, from: "127.0.0.2")
            #expect(response.status == 403, "\(method) \(path) from outside: \(response.status) \(response.body.prefix(200))")
        }
        #expect(try RawHTTP.send("GET", port: nginx.port, path: "/api/websocket/stats", from: "127.0.0.2").status == 200)
        #expect(try RawHTTP.send("GET", port: nginx.port, path: "/api/signals/buy?strategy=volume_wave", from: "127.0.0.2").status == 200)
        for read in ["/api/prices?codes=600519", "/api/klines?code=600519", "/api/news"] {
            #expect(try RawHTTP.send("GET", port: nginx.port, path: read, from: "127.0.0.2").status == 200, "\(read) from outside")
        }
        #expect(try await lastSeq() == seqBefore, "nothing refused reached the journal")

        // From inside (nginx's own host), the same routes work.
        #expect(try RawHTTP.send("POST", port: nginx.port, path: "/api/ticks", body: tick, from: "127.0.0.1").status == 200)
        #expect(try RawHTTP.send("GET", port: nginx.port, path: "/metrics", from: "127.0.0.1").status == 200)
        #expect(try RawHTTP.send("GET", port: nginx.port, path: "/api/config", from: "127.0.0.1").status == 200)
        #expect(await broker.terminate() == 0)
        nginx.stop()
    }
}
