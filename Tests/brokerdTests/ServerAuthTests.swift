import Broker
import Foundation
import Journal
import Testing
import TestSupport

@testable import brokerd

/// Client auth against a real brokerd: JWTs in the query or the header, users owning alerts and
/// sessions, allow-lists, refusals with close code 1008, and anonymous mode when no secret is set.
@Suite(.serialized) struct ServerAuthTests {
    private func authBroker(_ dir: TemporaryDirectory, _ arguments: [String] = []) async throws -> BrokerProcess {
        // The secret goes by environment, as an operator should pass it (flags show in `ps`).
        try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--log-level", "debug"] + arguments,
            environment: ["BROKERD_JWT_SECRET": TestTokens.secret])
    }

    private func clients(_ broker: BrokerProcess) async throws -> [[String: Any]] {
        let (status, body) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
        #expect(status == 200)
        return body["clients"] as? [[String: Any]] ?? []
    }

    /// Waits until the broker serves `count` clients (a closed client's disconnect is journaled
    /// asynchronously; resuming before that would find the session still connected).
    private func waitForClients(_ broker: BrokerProcess, count: Int) async throws {
        for _ in 0..<200 {
            if try await clients(broker).count == count { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("the broker never had \(count) clients")
    }

    /// Waits until the broker's log holds `count` lines containing `text`, then returns them.
    private func logLines(_ broker: BrokerProcess, containing text: String, count: Int) async throws -> [Substring] {
        var lines: [Substring] = []
        for _ in 0..<200 {
            lines = broker.logText.split(separator: "\n").filter { $0.contains(text) }
            if lines.count >= count { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        return lines
    }

    private func connectedUsers(_ journal: String) throws -> [String?] {
        let cursor = try JournalReader(path: journal).records(JournalQuery(kinds: [EventKind.clientConnected.rawValue]))
        var users: [String?] = []
        while let record = try cursor.next() {
            if case .clientConnected(let payload) = try EventCodec.decode(kind: record.kind, payload: record.payload) {
                users.append(payload.user)
            }
        }
        return users
    }

    @Test func upgradesRefusedForTheirTokenGiveTheirSlotBackAtOnce() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir, ["--max-clients", "2"])
        // Two clients with no token that never answer the close: each would hold a slot through
        // the close grace (5 s), and a client with a good token found the broker full.
        let squatters = try (0..<2).map { _ in try StalledWebSocket(port: broker.port, readTimeout: 10) }
        for squatter in squatters {
            let close = try squatter.readFrame()
            #expect(close.opcode == 0x8, "\(close)")
        }
        let token = try await TestTokens.valid(user: "alice")
        let client = TestWebSocket(url: broker.webSocketURL + "?token=\(token)")
        let connected = try #require(try await client.receive())
        #expect(connected["type"] as? String == "connected", "\(connected)")
        await client.close()
        _ = squatters
        await broker.terminate()
    }

    // MARK: Accepted tokens

    @Test func aTokenInTheQueryOrTheHeaderMakesTheClientItsUser() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir)
        let token = try await TestTokens.valid(user: "alice")
        let byQuery = TestWebSocket(url: broker.webSocketURL + "?token=\(token)")
        #expect(try await byQuery.receive()?["type"] as? String == "connected")
        let byHeader = TestWebSocket(url: broker.webSocketURL, headers: ["Authorization": "Bearer \(token)"])
        #expect(try await byHeader.receive()?["type"] as? String == "connected")

        let listed = try await clients(broker)
        #expect(listed.count == 2)
        #expect(listed.allSatisfy { $0["user"] as? String == "alice" })

        await byQuery.close()
        await byHeader.close()
        #expect(await broker.terminate() == 0)
        #expect(try connectedUsers(dir.path("j.sqlite")) == ["alice", "alice"])
        #expect(!broker.logText.contains(token), "the token must never be logged")
    }

    @Test func anAlertSetOnOneConnectionBelongsToTheUserAndReachesItsOtherConnection() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir)
        let token = try await TestTokens.valid(user: "alice")
        let first = TestWebSocket(url: broker.webSocketURL + "?token=\(token)")
        _ = try await first.receive()
        let second = TestWebSocket(url: broker.webSocketURL, headers: ["Authorization": "Bearer \(token)"])
        _ = try await second.receive()

        try first.send(["type": "set_alert", "code": "600519", "condition": "above", "threshold": 1900])
        let set = try #require(try await first.receive(type: "alert_set"))
        #expect(set["user"] as? String == "alice")
        let ruleID = try #require(set["rule_id"] as? String)
        try second.send(["type": "list_alerts"])
        let listed = try #require(try await second.receive(type: "alerts"))
        #expect((listed["rules"] as? [[String: Any]])?.map { $0["rule_id"] as? String } == [ruleID])

        let tick = #"{"ticks":[{"code":"600519","price":1950}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: tick).0 == 200)
        for socket in [first, second] {
            let alert = try #require(try await socket.receive(type: "alert"))
            #expect((alert["data"] as? [String: Any])?["rule_id"] as? String == ruleID)
            #expect((alert["data"] as? [String: Any])?["user"] as? String == "alice")
        }
        await first.close()
        await second.close()
        await broker.terminate()
    }

    // MARK: Refused tokens

    @Test func missingExpiredAndForgedTokensAreClosedWith1008AndAReasonAndLoggedOnce() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir)
        let expired = try await TestTokens.sign(ClientClaims(subject: "alice", expiration: Date().addingTimeInterval(-60)))
        let forged = try await TestTokens.sign(
            ClientClaims(subject: "alice", expiration: Date().addingTimeInterval(3_600)),
            secret: "not-the-broker-secret-but-32-bytes-long")
        let unsigned = try await TestTokens.unsecured(ClientClaims(subject: "alice", expiration: Date().addingTimeInterval(3_600)))
        let cases: [(query: String, headers: [String: String], reason: String)] = [
            ("", [:], "token required"),
            ("?token=\(expired)", [:], "token expired"),
            ("", ["Authorization": "Bearer \(forged)"], "invalid token signature"),
            ("?token=\(unsigned)", [:], "token algorithm not accepted (HS256 only)"),
            ("?token=not.a-jwt", [:], "malformed token"),
        ]
        for refused in cases {
            let frame = try RawWebSocketUpgrade.firstFrame(
                port: broker.port, path: "/ws/stock/prices" + refused.query, headers: refused.headers)
            #expect(frame.opcode == 0x8, "\(refused.reason): the first frame is the close, no message before it")
            #expect(frame.closeCode == 1008, "\(refused.reason)")
            #expect(frame.closeReason == refused.reason)
        }
        #expect(try await logLines(broker, containing: "client refused", count: cases.count).count == cases.count)
        #expect(try await clients(broker).isEmpty)
        #expect(await broker.terminate() == 0)
        // No session was opened for a refused client, and no token reached the log.
        #expect(try connectedUsers(dir.path("j.sqlite")).isEmpty)
        for token in [expired, forged, unsigned] {
            #expect(!broker.logText.contains(token))
            #expect(!broker.logText.contains(token.split(separator: ".")[1]))
        }
        #expect(broker.logText.split(separator: "\n").filter { $0.contains("client refused") }.count == cases.count)
    }

    @Test func aConnectionIsClosedWith1008WhenItsTokenExpiresAndTheReasonIsJournaled() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir)
        // exp has whole seconds: two to three seconds from now.
        let expiry = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 3).rounded(.down))
        let shortLived = try await TestTokens.sign(ClientClaims(subject: "dave", expiration: expiry))
        let lasting = try await TestTokens.valid(user: "erin")
        let expiring = TestWebSocket(url: broker.webSocketURL + "?token=\(shortLived)")
        let staying = TestWebSocket(url: broker.webSocketURL + "?token=\(lasting)")
        #expect(try await expiring.receive()?["type"] as? String == "connected")
        #expect(try await staying.receive()?["type"] as? String == "connected")

        // The expiring client keeps pinging, so only its token can end it.
        let pinger = Task {
            while !Task.isCancelled {
                try? expiring.send(["type": "ping"])
                try? await Task.sleep(for: .milliseconds(200))
            }
        }
        defer { pinger.cancel() }
        var message: [String: Any]? = [:]
        while message != nil { message = try await expiring.receive(timeout: .seconds(30)) }
        let close = try await expiring.closeFrame()
        #expect(close?.closeCode == .policyViolation)
        #expect(close?.reason == "token_expired")
        #expect(Date() >= expiry)

        // The other client is served on.
        try staying.send(["type": "ping"])
        #expect(try await staying.receive(type: "pong") != nil)
        await staying.close()
        #expect(await broker.terminate() == 0)
        let reasons = try journaledEvents(dir.path("j.sqlite"), kinds: [.clientDisconnected]).compactMap { event -> DisconnectReason? in
            if case .clientDisconnected(let payload) = event { return payload.reason }
            return nil
        }
        // The other one ended as closed, or as shutdown when SIGTERM came before its close was journaled.
        #expect(reasons.filter { $0 == .tokenExpired }.count == 1, "\(reasons)")
        #expect(reasons.count == 2, "\(reasons)")
    }

    // MARK: Allow-lists

    @Test func aSubscriptionOutsideTheAllowListIsRefusedAndChangesNothing() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir)
        let token = try await TestTokens.valid(user: "carol", allow: ["strategy": ["volume_wave"], "news": ["all"]])
        let socket = TestWebSocket(url: broker.webSocketURL + "?token=\(token)")
        _ = try await socket.receive()

        try socket.send(["type": "subscribe", "subscription_type": "strategy", "target": "breakout"])
        let refusedStrategy = try #require(try await socket.receive())
        #expect(refusedStrategy["type"] as? String == "error")
        #expect(refusedStrategy["error"] as? String == "not_authorized")
        #expect((refusedStrategy["details"] as? String)?.contains("strategy 'breakout'") == true)
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        #expect(try await socket.receive()?["error"] as? String == "not_authorized")

        try socket.send(["type": "subscribe", "subscription_type": "strategy", "target": "volume_wave"])
        #expect(try await socket.receive()?["type"] as? String == "subscribed")
        try socket.send(["type": "subscribe", "subscription_type": "alerts", "target": "me"])
        #expect(try await socket.receive(type: "subscribed") != nil)

        let subscriptions = try #require(try await clients(broker).first?["subscriptions"] as? [[String: Any]])
        #expect(subscriptions.map { "\($0["type"] ?? ""):\($0["target"] ?? "")" } == ["strategy:volume_wave", "alerts:carol"])

        // An alert would tell the price: allowed only on a code the token may see, here through
        // its strategy; no rule is journaled for the refused one.
        let (status, body) = try await HTTP.request(
            "PUT", broker.baseURL + "/api/signals/volume_wave", body: #"{"signals":[{"code":"000001","name":"平安银行"}]}"#)
        #expect(status == 200, "PUT signals: \(body)")
        try socket.send(["type": "set_alert", "code": "600519", "condition": "above", "threshold": 1900])
        let refusedAlert = try #require(try await socket.receive())
        #expect(refusedAlert["error"] as? String == "not_authorized")
        #expect((refusedAlert["details"] as? String)?.contains("'600519'") == true)
        try socket.send(["type": "set_alert", "code": "000001", "condition": "below", "threshold": 9])
        #expect(try await socket.receive()?["type"] as? String == "alert_set")
        try socket.send(["type": "list_alerts"])
        let rules = try #require(try await socket.receive(type: "alerts")?["rules"] as? [[String: Any]])
        #expect(rules.compactMap { $0["code"] as? String } == ["000001"])
        await socket.close()
        await broker.terminate()
    }

    // MARK: Resume

    @Test func onlyTheSameUserMayResumeASession() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir)
        let alice = try await TestTokens.valid(user: "alice")
        let first = TestWebSocket(url: broker.webSocketURL + "?token=\(alice)")
        let clientID = try #require(try await first.receive()?["client_id"] as? String)
        try first.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        _ = try await first.receive(type: "price_update")
        await first.close()
        try await waitForClients(broker, count: 0)

        let bob = try await TestTokens.valid(user: "bob")
        let intruder = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "1") + "&token=\(bob)")
        let fresh = try #require(try await intruder.receive())
        #expect(fresh["resumed"] as? Bool == false)
        #expect(fresh["client_id"] as? String != clientID)
        let failure = try #require(try await intruder.receive())
        #expect(failure["error"] as? String == "resume_failed")
        #expect((failure["details"] as? String)?.contains("unknown or has expired") == true)
        await intruder.close()
        try await waitForClients(broker, count: 0)

        let owner = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "1") + "&token=\(alice)")
        let resumed = try #require(try await owner.receive())
        #expect(resumed["resumed"] as? Bool == true)
        #expect(resumed["client_id"] as? String == clientID)
        // `connected` goes out before the session joins the registry the clients list reads.
        try await waitForClients(broker, count: 1)
        let restored = try #require(try await clients(broker).first?["subscriptions"] as? [[String: Any]])
        #expect(restored.map { $0["target"] as? String } == ["600519"])
        await owner.close()
        await broker.terminate()
    }

    @Test func aResumeWithANarrowerAllowListDropsWhatTheNewTokenDoesNotAllow() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir)
        let wide = try await TestTokens.valid(user: "dave", allow: ["strategy": ["*"]])
        let first = TestWebSocket(url: broker.webSocketURL + "?token=\(wide)")
        let clientID = try #require(try await first.receive()?["client_id"] as? String)
        for target in ["breakout", "volume_wave"] {
            try first.send(["type": "subscribe", "subscription_type": "strategy", "target": target])
            #expect(try await first.receive(type: "subscribed") != nil)
        }
        await first.close()
        try await waitForClients(broker, count: 0)

        let narrow = try await TestTokens.valid(user: "dave", allow: ["strategy": ["volume_wave"]])
        let second = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID) + "&token=\(narrow)")
        #expect(try await second.receive()?["resumed"] as? Bool == true)
        let dropped = try #require(try await second.receive())
        #expect(dropped["error"] as? String == "subscription_dropped")
        #expect((dropped["details"] as? String)?.contains("'breakout'") == true)
        try await waitForClients(broker, count: 1)
        let kept = try #require(try await clients(broker).first?["subscriptions"] as? [[String: Any]])
        #expect(kept.map { $0["target"] as? String } == ["volume_wave"])
        await second.close()
        await broker.terminate()
    }

    // MARK: Anonymous mode

    /// A token whose `exp` is four to five seconds from now (whole seconds: the claim has no
    /// fraction): long enough for a connect and a subscribe on a machine busy with the whole suite
    /// (at two to three seconds, one run had its connection closed at `exp` before `subscribed`).
    private func shortLivedToken(for user: String, allow: [String: [String]]? = nil) async throws -> (String, Date) {
        let expiry = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 5).rounded(.down))
        return (try await TestTokens.sign(ClientClaims(subject: user, expiration: expiry, allow: allow)), expiry)
    }

    /// Pings `socket` until `date` has passed by half a second, each answered: the connection lives.
    private func pingPast(_ date: Date, on socket: TestWebSocket) async throws {
        while Date() < date.addingTimeInterval(0.5) {
            try socket.send(["type": "ping"])
            #expect(try await socket.receive(type: "pong") != nil)
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    @Test func aRefreshedTokenKeepsTheConnectionOpenPastTheOldExpUntilItsOwn() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir)
        let (shortLived, expiry) = try await shortLivedToken(for: "frank")
        let socket = TestWebSocket(url: broker.webSocketURL + "?token=\(shortLived)")
        #expect(try await socket.receive(type: "connected") != nil)
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        #expect(try await socket.receive(type: "subscribed") != nil)

        // The pings past the old exp and the tick get 4.5 s before this one's: with 2.5 s, one CI
        // run (the suite, and a release build beside it) was closed at this exp before the price came.
        let later = expiry.addingTimeInterval(5)
        let fresh = try await TestTokens.sign(ClientClaims(subject: "frank", expiration: later))
        try socket.send(["type": "refresh", "token": fresh, "id": 7])
        let refreshed = try #require(try await socket.receive(type: "refreshed"))
        #expect(refreshed["id"] as? Int == 7, "\(refreshed)")
        #expect(refreshed["expires_at"] as? String == WireTime.format(microseconds: Int64(later.timeIntervalSince1970) * 1_000_000))
        let samples = try await metricSamples(of: broker)
        #expect(samples.value("brokerd_token_refreshes_total", ["result": "refreshed"]) == 1)

        // Served past the first token's exp, subscription and all…
        try await pingPast(expiry, on: socket)
        let tick = #"{"ticks":[{"code":"600519","name":"贵州茅台","price":1901,"volume":1,"prev_close":1850}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: tick).0 == 200)
        #expect(try await socket.receive(type: "price_update") != nil)
        // …and closed at the new one's.
        while try await socket.receive(timeout: .seconds(10)) != nil {}
        #expect(try await socket.closeFrame()?.reason == "token_expired")
        #expect(Date() >= later)
        #expect(await broker.terminate() == 0)
    }

    @Test func aRefreshWithATokenThatWillNotDoIsRefusedAndTheOldExpStillHolds() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir)
        let (shortLived, expiry) = try await shortLivedToken(for: "gina")
        let socket = TestWebSocket(url: broker.webSocketURL + "?token=\(shortLived)")
        #expect(try await socket.receive(type: "connected") != nil)
        let refusals: [([String: Any], String, String)] = [
            (["type": "refresh", "token": try await TestTokens.valid(user: "henry")], "invalid_token", "another user's"),
            (["type": "refresh", "token": TestTokens.tampered(try await TestTokens.valid(user: "gina"))], "invalid_token", "invalid token signature"),
            (["type": "refresh", "token": try await TestTokens.sign(ClientClaims(subject: "gina", expiration: Date().addingTimeInterval(-5)))],
             "invalid_token", "token expired"),
            (["type": "refresh", "token": "not-a-jwt"], "invalid_token", "malformed token"),
            (["type": "refresh", "token": ""], "missing_token", "\"token\""),
            (["type": "refresh"], "missing_token", "\"token\""),
        ]
        for (message, error, mention) in refusals {
            try socket.send(message)
            let refusal = try #require(try await socket.receive(type: "error"))
            #expect(refusal["error"] as? String == error, "\(refusal)")
            #expect((refusal["details"] as? String)?.contains(mention) == true, "\(refusal)")
        }
        let samples = try await metricSamples(of: broker)
        #expect(samples.value("brokerd_token_refreshes_total", ["result": "invalid_token"]) == 4, "missing tokens are refused unparsed")
        // Still the first token's connection: closed at its exp.
        while try await socket.receive(timeout: .seconds(10)) != nil {}
        #expect(try await socket.closeFrame()?.reason == "token_expired")
        #expect(Date() >= expiry)
        #expect(await broker.terminate() == 0)
    }

    @Test func aRefreshWithANarrowerAllowListDropsWhatItNoLongerAllows() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await authBroker(dir)
        let wide = try await TestTokens.valid(user: "ivan", allow: ["stock": ["*"], "news": ["all"]])
        let socket = TestWebSocket(url: broker.webSocketURL + "?token=\(wide)")
        #expect(try await socket.receive(type: "connected") != nil)
        for (type, target) in [("stock", "600519"), ("news", "all")] {
            try socket.send(["type": "subscribe", "subscription_type": type, "target": target])
            #expect(try await socket.receive(type: "subscribed") != nil)
        }

        try socket.send(["type": "refresh", "token": try await TestTokens.valid(user: "ivan", allow: ["news": ["all"]])])
        let dropped = try #require(try await socket.receive(type: "error"))
        #expect(dropped["error"] as? String == "subscription_dropped", "\(dropped)")
        #expect((dropped["details"] as? String)?.contains("stock") == true, "\(dropped)")
        #expect(try await socket.receive(type: "refreshed") != nil)
        let (_, listed) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/subscriptions")
        let rows = (listed["subscriptions"] as? [[String: Any]] ?? []).map { "\($0["type"] as? String ?? "?"):\($0["target"] as? String ?? "?")" }
        #expect(rows == ["news:all"], "\(listed)")
        // The new allow-list holds for what comes next.
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "000001"])
        #expect(try await socket.receive(type: "error")?["error"] as? String == "not_authorized")
        await socket.close()
        #expect(await broker.terminate() == 0)
    }

    @Test func withoutASecretClientsAreAnonymousAndOwnAlertsByClientID() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        // A token is ignored when auth is off: the client is still anonymous.
        let token = try await TestTokens.valid(user: "alice")
        let socket = TestWebSocket(url: broker.webSocketURL + "?token=\(token)")
        let clientID = try #require(try await socket.receive()?["client_id"] as? String)
        try socket.send(["type": "set_alert", "code": "600519", "condition": "above", "threshold": 1900])
        #expect(try await socket.receive(type: "alert_set")?["user"] as? String == clientID)
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        #expect(try await socket.receive(type: "subscribed") != nil)

        let listed = try #require(try await clients(broker).first)
        #expect(listed["client_id"] as? String == clientID)
        #expect(listed["user"] == nil)
        // Nor is there a token to refresh.
        try socket.send(["type": "refresh", "token": token])
        #expect(try await socket.receive(type: "error")?["error"] as? String == "auth_off")
        await socket.close()
        #expect(await broker.terminate() == 0)
        #expect(try connectedUsers(dir.path("j.sqlite")) == [nil])
    }

    // MARK: Settings

    @Test func serveHelpListsTheAuthRateAndFrameSettings() throws {
        let process = Process()
        process.executableURL = productsDirectory().appendingPathComponent("brokerd")
        process.arguments = ["serve", "--help"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let help = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.endedBlocking() == 0)
        for setting in [Setting.adminToken, .jwtSecret, .messagesPerSecond, .burst, .maxFrameBytes, .maxSubscriptionsPerClient, .maxClients] {
            #expect(help.contains("--\(setting.flagName)"), "\(setting) missing from serve --help")
            #expect(help.contains(setting.environmentName), "\(setting) env name missing from serve --help")
        }
    }
}
