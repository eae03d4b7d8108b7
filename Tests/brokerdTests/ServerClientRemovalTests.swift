import Broker
import Foundation
import Journal
import Testing
import TestSupport

@testable import brokerd

/// An operator finds and removes clients: `GET /api/websocket/clients/{client_id}` and `?user=`;
/// `DELETE /api/websocket/clients/{client_id}` closes the connection (1008 `kicked`, journaled) and
/// ends the session unless told to keep it; `?user=` takes all of a user's sessions. Against a real
/// broker, real sockets and the journal it writes.
@Suite(.serialized) struct ServerClientRemovalTests {
    /// A fresh session on `broker` subscribed to stock 600519: its socket, id and resume token.
    private func subscribedSession(on broker: BrokerProcess, url: String? = nil) async throws -> (TestWebSocket, clientID: String, token: String) {
        let socket = TestWebSocket(url: url ?? broker.webSocketURL)
        let connected = try #require(try await socket.receive(type: "connected"))
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        #expect(try await socket.receive(type: "subscribed") != nil)
        return (socket, try #require(connected["client_id"] as? String), try #require(connected["resume_token"] as? String))
    }

    /// The close frame `socket` got once the broker ended it (everything before it is read past).
    private func closeFrame(of socket: TestWebSocket) async throws -> (code: UInt16?, reason: String?) {
        while try await socket.receive() != nil {}
        let close = try await socket.closeFrame()
        return (close.map { UInt16(webSocketErrorCode: $0.closeCode) }, close?.reason)
    }

    /// The journaled disconnects and session ends of `clientID`, in seq order.
    private func sessionEnd(of clientID: String, in journal: String) throws -> [String] {
        try journaledEvents(journal, kinds: [.clientDisconnected, .sessionExpired]).compactMap { event in
            switch event {
            case .clientDisconnected(let payload) where payload.clientID == clientID: "disconnected \(payload.reason.rawValue)"
            case .sessionExpired(let payload) where payload.clientID == clientID: "expired"
            default: nil
            }
        }
    }

    /// Seconds from now to the resume deadline of `clientID`'s kicked disconnect.
    private func resumeWindowLeft(of clientID: String, in journal: String) throws -> Double {
        let deadline = try journaledEvents(journal, kinds: [.clientDisconnected]).compactMap { event -> Int64? in
            guard case .clientDisconnected(let payload) = event, payload.clientID == clientID, payload.reason == .kicked else { return nil }
            return payload.resumeDeadline
        }.first
        return Double(try #require(deadline) - WallClock.microsecondsNow()) / 1_000_000
    }

    /// The value of `name{labels}` on the broker's `/metrics`.
    private func metric(_ name: String, _ labels: [String: String], on broker: BrokerProcess) async throws -> Double? {
        try await metricSamples(of: broker).value(name, labels)
    }

    private func resume(_ clientID: String, token: String, on broker: BrokerProcess) async throws -> (TestWebSocket, [String: Any]) {
        let socket = TestWebSocket(url: broker.webSocketURL + "?resume=\(clientID)&since=1&resume_token=\(token)")
        return (socket, try #require(try await socket.receive(type: "connected")))
    }

    @Test func aKickedClientIsClosedAndItsSessionEndedSoItsResumeStartsAfresh() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal)
        let (socket, clientID, token) = try await subscribedSession(on: broker)
        let (bystander, bystanderID, _) = try await subscribedSession(on: broker)

        let (status, body) = try await HTTP.request("DELETE", broker.baseURL + "/api/websocket/clients/\(clientID)")
        #expect(status == 200, "\(body)")
        #expect(body["client_id"] as? String == clientID)
        #expect(body["disconnected"] as? Bool == true && body["session_ended"] as? Bool == true, "\(body)")
        let close = try await closeFrame(of: socket)
        #expect(close.code == 1008 && close.reason == "kicked", "\(close)")
        // In the journal before the answer: the disconnect, then the session's end, at or before its seq.
        #expect(try sessionEnd(of: clientID, in: journal) == ["disconnected kicked", "expired"])
        // No window was left between the two for a resume to slip into.
        #expect(try resumeWindowLeft(of: clientID, in: journal) <= 0)
        let lastSeq = try #require(try JournalReader(path: journal).last()?.seq)
        #expect(body["seq"] as? Int == Int(lastSeq))

        // Nothing is left to resume, and the subscription is gone with the session.
        #expect(try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients/\(clientID)").0 == 404)
        let (again, connected) = try await resume(clientID, token: token, on: broker)
        #expect(connected["resumed"] as? Bool == false && connected["client_id"] as? String != clientID, "\(connected)")
        let refusal = try #require(try await again.receive(type: "error"))
        #expect(refusal["error"] as? String == "resume_failed", "\(refusal)")
        let (_, clients) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
        let listed = (clients["clients"] as? [[String: Any]] ?? []).compactMap { $0["client_id"] as? String }
        #expect(!listed.contains(clientID) && listed.contains(bystanderID), "\(listed)")

        #expect(try await metric("brokerd_clients_removed_total", ["session": "ended"], on: broker) == 1)
        #expect(try await metric("brokerd_disconnects_total", ["reason": "kicked"], on: broker) == 1)

        // The other client was not touched.
        try bystander.send(["type": "ping"])
        #expect(try await bystander.receive(type: "pong") != nil)
        await again.close()
        await bystander.close()
        await broker.terminate()
    }

    @Test func aClientKickedWithItsSessionKeptResumesWithItsSubscriptions() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal)
        let (socket, clientID, token) = try await subscribedSession(on: broker)

        let (status, body) = try await HTTP.request("DELETE", broker.baseURL + "/api/websocket/clients/\(clientID)?session=keep")
        #expect(status == 200, "\(body)")
        #expect(body["disconnected"] as? Bool == true && body["session_ended"] as? Bool == false, "\(body)")
        #expect(try await closeFrame(of: socket).reason == "kicked")
        #expect(try sessionEnd(of: clientID, in: journal) == ["disconnected kicked"])
        #expect(try resumeWindowLeft(of: clientID, in: journal) > 250, "the default window is 300 s")
        // Looked up, it is gone for now, kicked, its subscription kept for a resume.
        let (found, detail) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients/\(clientID)")
        let session = detail["session"] as? [String: Any]
        #expect(found == 200 && session?["state"] as? String == "gone" && session?["reason"] as? String == "kicked", "\(detail)")
        #expect(session?["resume_deadline"] is String && detail["connection"] == nil, "no connection: \(detail)")
        #expect((session?["subscriptions"] as? [[String: Any]])?.first?["target"] as? String == "600519", "\(detail)")

        // A price while it was away comes with the resume, for the subscription it still has.
        let tick = #"{"ticks":[{"code":"600519","name":"贵州茅台","price":1888.5,"volume":100,"prev_close":1850}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: tick).0 == 200)
        let (resumed, connected) = try await resume(clientID, token: token, on: broker)
        #expect(connected["resumed"] as? Bool == true && connected["client_id"] as? String == clientID, "\(connected)")
        let update = try #require(try await resumed.receive(type: "price_update"))
        let entry = (update["data"] as? [[String: Any]])?.first
        #expect(entry?["code"] as? String == "600519" && entry?["price"] as? Double == 1888.5, "\(update)")

        // A session without a connection has nothing to close when it is to be kept.
        await resumed.close()
        try await waitUntilNotConnected(clientID, on: broker)
        let (kept, refusal) = try await HTTP.request("DELETE", broker.baseURL + "/api/websocket/clients/\(clientID)?session=keep")
        #expect(kept == 409 && refusal["error"] as? String == "client_not_connected", "\(refusal)")
        // Ending it needs no connection.
        let (ended, outcome) = try await HTTP.request("DELETE", broker.baseURL + "/api/websocket/clients/\(clientID)")
        #expect(ended == 200 && outcome["disconnected"] as? Bool == false && outcome["session_ended"] as? Bool == true, "\(outcome)")
        #expect(try sessionEnd(of: clientID, in: journal) == ["disconnected kicked", "disconnected closed", "expired"])
        #expect(try await metric("brokerd_clients_removed_total", ["session": "kept"], on: broker) == 1)
        #expect(try await metric("brokerd_clients_removed_total", ["session": "ended"], on: broker) == 1)
        await broker.terminate()
    }

    private func waitUntilNotConnected(_ clientID: String, on broker: BrokerProcess) async throws {
        for _ in 0..<200 {
            let (_, clients) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
            if !(clients["clients"] as? [[String: Any]] ?? []).contains(where: { $0["client_id"] as? String == clientID }) { return }
            try await Task.sleep(for: .milliseconds(25))
        }
        Issue.record("\(clientID) stayed connected")
    }

    @Test func removalsThatCannotBeDoneAreRefusedAndChangeNothing() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let admin = "admin-token-for-the-removal-tests"
        let broker = try await BrokerProcess(journal: journal, environment: ["BROKERD_ADMIN_TOKEN": admin])
        let (socket, clientID, _) = try await subscribedSession(on: broker)
        let path = broker.baseURL + "/api/websocket/clients"
        let refusals: [(url: String, token: String?, status: Int, error: String)] = [
            ("\(path)/\(clientID)", nil, 401, "unauthorized"),
            ("\(path)/\(clientID)", "wrong", 403, "forbidden"),
            ("\(path)/client_00000000", admin, 404, "unknown_client"),
            ("\(path)/\(clientID)?session=forever", admin, 400, "invalid_session"),
            (path, admin, 400, "missing_user"),
            ("\(path)?user=", admin, 400, "missing_user"),
            ("\(path)?user=alice&session=no", admin, 400, "invalid_session"),
            ("\(path)?user=alice&nodes=some", admin, 400, "invalid_nodes"),
            ("\(path)?user=\(String(repeating: "u", count: 65))", admin, 400, "invalid_user"),
        ]
        let before = try #require(try JournalReader(path: journal).last()?.seq)
        for refusal in refusals {
            let (status, body) = try await HTTP.request("DELETE", refusal.url, token: refusal.token)
            #expect(status == refusal.status && body["error"] as? String == refusal.error, "\(refusal.url): \(status) \(body)")
        }
        // Nothing journaled, and the client is still served.
        #expect(try JournalReader(path: journal).last()?.seq == before)
        try socket.send(["type": "ping"])
        #expect(try await socket.receive(type: "pong") != nil)
        // A user with no sessions: nothing to do, said so.
        let (status, body) = try await HTTP.request("DELETE", "\(path)?user=nobody", token: admin)
        #expect(status == 200 && body["count"] as? Int == 0, "\(body)")
        await socket.close()
        await broker.terminate()
    }

    @Test func removingAUserClosesEveryConnectionOfItAndEndsItsSessions() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal, environment: ["BROKERD_JWT_SECRET": TestTokens.secret])
        func url(for user: String) async throws -> String {
            let token = try await TestTokens.expiring(user: user, at: Date().addingTimeInterval(3_600))
            return broker.webSocketURL + "?token=\(token)"
        }
        let (phone, phoneID, _) = try await subscribedSession(on: broker, url: try await url(for: "alice"))
        let (laptop, laptopID, _) = try await subscribedSession(on: broker, url: try await url(for: "alice"))
        let (bob, _, _) = try await subscribedSession(on: broker, url: try await url(for: "bob"))

        // The user's connections, and one of them looked up.
        let (_, listed) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients?user=alice")
        let alices = (listed["clients"] as? [[String: Any]] ?? []).compactMap { $0["client_id"] as? String }
        #expect(Set(alices) == [phoneID, laptopID] && listed["count"] as? Int == 2, "\(listed)")
        let (_, detail) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients/\(phoneID)")
        #expect((detail["session"] as? [String: Any])?["state"] as? String == "connected", "\(detail)")
        #expect((detail["connection"] as? [String: Any])?["user"] as? String == "alice", "\(detail)")

        let (status, body) = try await HTTP.request("DELETE", broker.baseURL + "/api/websocket/clients?user=alice")
        #expect(status == 200 && body["user"] as? String == "alice" && body["count"] as? Int == 2, "\(body)")
        #expect(body["other_nodes"] as? String == "none", "no Redis: no other node to ask")
        let removed = (body["clients"] as? [[String: Any]] ?? []).compactMap { $0["client_id"] as? String }
        #expect(Set(removed) == [phoneID, laptopID])
        for socket in [phone, laptop] {
            #expect(try await closeFrame(of: socket).reason == "kicked")
        }
        #expect(try sessionEnd(of: phoneID, in: journal) == ["disconnected kicked", "expired"])
        #expect(try sessionEnd(of: laptopID, in: journal) == ["disconnected kicked", "expired"])

        try bob.send(["type": "ping"])
        #expect(try await bob.receive(type: "pong") != nil)
        await bob.close()
        await broker.terminate()
    }

    @Test func aClientThatStoppedReadingIsKickedAtOnce() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal)
        let stalled = try StalledWebSocket(port: broker.port, readTimeout: 10)
        let connected = try stalled.readFrame()
        let clientID = try #require(
            (try JSONSerialization.jsonObject(with: Data(connected.payload)) as? [String: Any])?["client_id"] as? String)
        try stalled.send(#"{"type":"subscribe","subscription_type":"news","target":"all"}"#)
        // News is never coalesced: posted until its socket takes no more and messages wait for it.
        let summary = String(repeating: "新闻", count: 2_700)
        var waiting = 0
        var posted = 0
        for n in 0..<1_000 where waiting == 0 {
            posted += 1
            let body = #"{"title":"n\#(n)","summary":"\#(summary)"}"#
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: body).0 == 200)
            guard n % 10 == 9 else { continue }
            let (_, clients) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
            let row = (clients["clients"] as? [[String: Any]] ?? []).first { $0["client_id"] as? String == clientID }
            waiting = row?["queue_depth"] as? Int ?? 0
        }
        #expect(waiting > 0, "the client's socket never filled")

        let (status, body) = try await HTTP.request("DELETE", broker.baseURL + "/api/websocket/clients/\(clientID)")
        #expect(status == 200 && body["session_ended"] as? Bool == true, "\(body)")
        #expect(try sessionEnd(of: clientID, in: journal) == ["disconnected kicked", "expired"])
        // What waited for it was dropped and its socket closed: reading on, it gets some of the
        // news, then the end, not everything followed by a close frame.
        var received = 0
        while let frame = try? stalled.readFrame(), frame.opcode == 0x1 {
            if String(decoding: frame.payload, as: UTF8.self).contains(#""type":"news_update""#) { received += 1 }
        }
        #expect(received < posted, "\(received) of \(posted) news items")
        await broker.terminate()
    }
}
