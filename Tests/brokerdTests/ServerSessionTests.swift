import Broker
import Foundation
import Synchronization
import Journal
import Testing
import TestSupport

/// Sessions live in the journal: they survive a kill -9, time out, and end cleanly on SIGTERM.
@Suite(.serialized) struct ServerSessionTests {
    private func events(_ journal: String, kind: EventKind) throws -> [Event] {
        let cursor = try JournalReader(path: journal).records(JournalQuery(kinds: [kind.rawValue]))
        var events: [Event] = []
        while let record = try cursor.next() { events.append(try EventCodec.decode(kind: record.kind, payload: record.payload)) }
        return events
    }

    private func disconnectReasons(_ journal: String) throws -> [DisconnectReason] {
        try events(journal, kind: .clientDisconnected).compactMap {
            if case .clientDisconnected(let payload) = $0 { return payload.reason }
            return nil
        }
    }

    /// A fresh session on `broker`: its socket, id and resume token (from `connected`).
    private func openSession(on broker: BrokerProcess) async throws -> (TestWebSocket, clientID: String, token: String) {
        let socket = TestWebSocket(url: broker.webSocketURL)
        let connected = try #require(try await socket.receive())
        return (socket, try #require(connected["client_id"] as? String), try #require(connected["resume_token"] as? String))
    }

    @Test func aResumeNeedsTheSessionsResumeTokenAndAGuessedIdTakesNothingOver() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        var broker = try await BrokerProcess(journal: journal)
        let (victim, clientID, token) = try await openSession(on: broker)
        #expect(token.count == 32 && token.allSatisfy(\.isHexDigit), "\(token)")
        try victim.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        _ = try await victim.receive(type: "subscribed")

        // Silent for longer than a resume waits before it takes a live connection over.
        try await Task.sleep(for: .milliseconds(5_500))
        let guessed = String(repeating: "0", count: 32)
        let attempts: [(query: String, headers: [String: String])] = [
            ("resume=\(clientID)&since=1", [:]), ("resume=\(clientID)&since=1&resume_token=\(guessed)", [:]),
            ("resume=\(clientID)&since=1", ["Brokerd-Resume-Token": guessed]),
            // The header is the one taken when both are given.
            ("resume=\(clientID)&since=1&resume_token=\(token)", ["Brokerd-Resume-Token": guessed]),
        ]
        for (query, headers) in attempts {
            let intruder = TestWebSocket(url: broker.webSocketURL + "?" + query, headers: headers)
            let answer = try #require(try await intruder.receive())
            #expect(answer["resumed"] as? Bool == false && answer["client_id"] as? String != clientID, "\(answer)")
            let refusal = try #require(try await intruder.receive(type: "error"))
            #expect(refusal["error"] as? String == "resume_failed", "\(refusal)")
            await intruder.close()
        }
        // The victim kept its connection and session.
        try victim.send(["type": "ping"])
        #expect(try await victim.receive(type: "pong") != nil)

        // The token from `connected` resumes it, after a restart too (the key is kept beside the
        // journal); here in its header, which proxies do not log as they log URLs.
        await victim.close()
        await broker.kill9()
        broker = try await BrokerProcess(journal: journal)
        let owner = TestWebSocket(url: broker.webSocketURL + "?resume=\(clientID)&since=1", headers: ["Brokerd-Resume-Token": token])
        let resumed = try #require(try await owner.receive())
        #expect(resumed["resumed"] as? Bool == true && resumed["client_id"] as? String == clientID, "\(resumed)")
        #expect(resumed["resume_token"] as? String == token)
        await owner.close()
        await broker.terminate()
    }

    @Test func aSessionClosedByAShutdownIsResumableForTheWholeWindowAfterTheRestart() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let window = ["--resume-window", "2"]
        var broker = try await BrokerProcess(journal: journal, arguments: window)
        let (first, clientID, token) = try await openSession(on: broker)
        #expect(await broker.terminate() == 0)
        // Down for longer than the window: a planned stop's downtime counts no more than a crash's.
        // Maintenance meanwhile, past the session's first deadline, is no sign of the broker's life
        // (the snapshot's time once counted as its stop, and the session got no credit at all).
        try await Task.sleep(for: .milliseconds(2_200))
        let snapshot = try await runCommand(productsDirectory().appendingPathComponent("brokerd"), ["journal", "snapshot", "--journal", journal])
        #expect(snapshot.status == 0, "\(snapshot)")
        try await Task.sleep(for: .milliseconds(300))
        broker = try await BrokerProcess(journal: journal, arguments: window)
        let second = TestWebSocket(url: broker.webSocketURL + "?resume=\(clientID)&since=0&resume_token=\(token)")
        let resumed = try #require(try await second.receive())
        #expect(resumed["resumed"] as? Bool == true, "\(resumed)")
        await second.close()
        await first.close()  // open until the shutdown closed it (its disconnect is the shutdown's)
        await broker.terminate()
        #expect(try disconnectReasons(journal).prefix(2) == [.shutdown, .shutdown], "the stop, then the window reopened at the restart")
    }

    @Test func aSessionNobodyResumesExpiresAfterAWindowOfUptimeHoweverOftenTheBrokerRestarts() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let window = ["--resume-window", "3"]
        var broker = try await BrokerProcess(journal: journal, arguments: window)
        let (first, clientID, token) = try await openSession(on: broker)
        await first.close()
        // Up 1.2 s at a time, quiet (no event in the journal), three restarts: well over the 3 s
        // window of uptime. Only the time the broker was down moves the deadline on.
        for _ in 0..<3 {
            try await Task.sleep(for: .milliseconds(1_200))
            #expect(await broker.terminate() == 0)
            broker = try await BrokerProcess(journal: journal, arguments: window)
        }
        try await Task.sleep(for: .milliseconds(500))
        let late = TestWebSocket(url: broker.webSocketURL + "?resume=\(clientID)&since=0&resume_token=\(token)")
        let answer = try #require(try await late.receive())
        #expect(answer["resumed"] as? Bool == false, "\(answer)")
        await late.close()
        await broker.terminate()
    }

    @Test func resumeAfterKillNineAndRestartDeliversMissedPricesBarsAndNews() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        var broker = try await BrokerProcess(journal: journal)
        let first = TestWebSocket(url: broker.webSocketURL)
        let connected = try #require(try await first.receive())
        let clientID = try #require(connected["client_id"] as? String)
        try first.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        let snapshot = try #require(try await first.receive(type: "price_update"))
        let seenSeq = try #require(snapshot["seq"] as? Int)

        await broker.kill9()
        broker = try await BrokerProcess(journal: journal)
        // Prices move while the client is away.
        let (status, _) = try await HTTP.request(
            "POST", broker.baseURL + "/api/ticks", body: #"{"ticks":[{"code":"600519","name":"贵州茅台","price":1901.5,"volume":5,"prev_close":1850}]}"#)
        #expect(status == 200)
        // A bar close and a news item tagged with the code are published while it is away too.
        let bar = #"{"klines":[{"code":"600519","period":"1m","open":1890,"high":1905,"low":1880,"close":1901.5,"closed":true}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/klines", body: bar).0 == 200)
        let news = #"{"title":"茅台公告","category":"company","codes":["600519"]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: news).0 == 200)

        let second = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "\(seenSeq)"))
        let resumed = try #require(try await second.receive())
        #expect(resumed["type"] as? String == "connected")
        #expect(resumed["client_id"] as? String == clientID)
        #expect(resumed["resumed"] as? Bool == true)
        // What the latest price cannot tell comes first, from the journal, then the latest price:
        // seqs in order, so a client cut off half-way can resume from the last seq it saw.
        var replay: [[String: Any]] = []
        while replay.last?["type"] as? String != "price_update" {
            replay.append(try #require(try await second.receive()))
        }
        let seqs = replay.compactMap { $0["seq"] as? Int }
        #expect(seqs.count == replay.count && seqs == seqs.sorted(), "\(replay)")
        // (A bar built from the tick may close into the journal too when a minute boundary passes.)
        let missedBar = try #require(replay.first { $0["type"] as? String == "kline_update" })
        #expect((missedBar["data"] as? [String: Any])?["closed"] as? Bool == true)
        #expect(replay.contains { $0["type"] as? String == "news_update" })
        let entry = try #require((replay.last?["data"] as? [[String: Any]])?.first)
        #expect(entry["code"] as? String == "600519")
        #expect(entry["price"] as? Double == 1901.5)
        // The subscription came back with the session: live prices keep flowing.
        _ = try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: #"{"ticks":[{"code":"600519","price":1902}]}"#)
        #expect(((try await second.receive(type: "price_update"))?["data"] as? [[String: Any]])?.first?["price"] as? Double == 1902)

        await second.close()
        #expect(await broker.terminate() == 0)
        #expect(try disconnectReasons(journal).contains(.brokerRestart))
        #expect(try JournalReader(path: journal).verify().isValid)
    }

    @Test func aResumedMarketSubscriberGetsItsBoardsLatestPrices() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        func post(_ ticks: String) async throws {
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: #"{"ticks":[\#(ticks)]}"#).0 == 200)
        }
        try await post(#"{"code":"600519","name":"贵州茅台","price":1850,"volume":1,"prev_close":1800},{"code":"000001","price":12,"volume":1,"prev_close":12}"#)
        let (socket, clientID, token) = try await openSession(on: broker)
        try socket.send(["type": "subscribe", "subscription_type": "market", "target": "sh"])
        #expect(try await socket.receive(type: "subscribed") != nil)
        let snapshot = try #require(try await socket.receive(type: "price_update"))
        #expect((snapshot["data"] as? [[String: Any]])?.compactMap { $0["code"] as? String } == ["600519"])
        await socket.close()
        // While it was away: a price of the board changed, and the board gained a code.
        try await post(#"{"code":"600519","price":1900,"volume":1,"prev_close":1800},{"code":"600000","name":"浦发银行","price":8,"volume":1,"prev_close":8}"#)
        let back = TestWebSocket(url: broker.webSocketURL + "?resume=\(clientID)&since=0&resume_token=\(token)")
        #expect(try await back.receive()?["resumed"] as? Bool == true)
        var latest: [String: Double] = [:]
        while latest["600519"] != 1900 || latest["600000"] == nil, let message = try await back.receive(timeout: .seconds(5)) {
            guard message["type"] as? String == "price_update", message["subscription_type"] as? String == "market" else { continue }
            for entry in message["data"] as? [[String: Any]] ?? [] {
                if let code = entry["code"] as? String, let price = entry["price"] as? Double { latest[code] = price }
            }
        }
        #expect(latest == ["600519": 1900, "600000": 8])
        await back.close()
        await broker.terminate()
    }

    @Test func resumeOutsideTheWindowStartsAFreshSessionWithAnError() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--resume-window", "0"])
        let first = TestWebSocket(url: broker.webSocketURL)
        let clientID = try #require(try await first.receive()?["client_id"] as? String)
        await first.close()
        try await Task.sleep(for: .milliseconds(200))

        let second = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "1"))
        let connected = try #require(try await second.receive())
        #expect(connected["resumed"] as? Bool == false)
        #expect(connected["client_id"] as? String != clientID)
        let error = try await second.receive()
        #expect(error?["type"] as? String == "error")
        #expect(error?["error"] as? String == "resume_failed")
        await second.close()
        await broker.terminate()
    }

    /// The journal refuses the disconnect once (another process holds its write lock past the
    /// broker's 5 s wait): the broker tries again, so the session becomes resumable, not a session
    /// connected in the journal for good that no resume could take and no sweep expire.
    @Test func aDisconnectTheJournalRefusedOnceIsJournaledLaterAndTheSessionResumes() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        // A heartbeat shorter than the lock: the connection stays listed, silent, while its end is
        // retried. Not 1 s: a loaded machine can take longer than that between two frames of a test.
        let broker = try await BrokerProcess(journal: journal, arguments: ["--heartbeat-timeout", "3"])
        let first = TestWebSocket(url: broker.webSocketURL)
        let clientID = try #require(try await first.receive()?["client_id"] as? String)
        try first.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        #expect(try await first.receive(type: "subscribed") != nil)

        let lock = try HeldWriteLock(journal)
        // A frame just before the close: the heartbeat counts from it, not from the subscription
        // (a loaded machine once took 3 s from there to here, and the end was a heartbeat timeout).
        try first.send(["type": "ping"])
        await first.close()
        // Past the broker's busy timeout (5 s): its append of the disconnect fails.
        for _ in 0..<200 where !broker.logText.contains("could not journal a disconnect") {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(broker.logText.contains("could not journal a disconnect"), "the journal refused it while locked")
        lock.release()

        var reasons: [DisconnectReason] = []
        for _ in 0..<200 where reasons.isEmpty {
            try await Task.sleep(for: .milliseconds(50))
            reasons = (try? disconnectReasons(journal)) ?? []
        }
        #expect(reasons == [.closed])
        // Counted before the resume: on a slow machine the resumed connection may time out too.
        let timeouts = broker.logText.components(separatedBy: "heartbeat timeout").count - 1
        #expect(timeouts <= 1, "the sweep logs a connection's timeout once, not every 250 ms while its end is retried: \(timeouts)")
        let second = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "1"))
        let connected = try #require(try await second.receive())
        #expect(connected["resumed"] as? Bool == true && connected["client_id"] as? String == clientID)
        await second.close()
        await broker.terminate()
    }

    @Test func aFractionalResumeWindowCountsOnEveryDisconnect() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal, arguments: ["--resume-window", "0.9"])
        let (clientID, _) = try await leftSession(on: broker)
        let kept = TestWebSocket(url: broker.webSocketURL)
        let keptID = try #require(try await kept.receive()?["client_id"] as? String)
        #expect(await broker.terminate() == 0)

        // A client that left, and one the shutdown closed: both deadlines are 0.9 s after the
        // disconnect (less the moment between the deadline's reckoning and the commit's stamp).
        let cursor = try JournalReader(path: journal).records(JournalQuery(kinds: [EventKind.clientDisconnected.rawValue]))
        var windows: [String: Int64] = [:]
        while let record = try cursor.next() {
            guard case .clientDisconnected(let payload) = try EventCodec.decode(kind: record.kind, payload: record.payload) else { continue }
            windows[payload.clientID] = payload.resumeDeadline - record.timestamp
        }
        for id in [clientID, keptID] {
            let window = try #require(windows[id])
            #expect(window > 0 && window <= 900_000, "\(id): \(window) µs")
        }
    }

    @Test func anIdleClientIsClosedForHeartbeatTimeoutAndItIsJournaled() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal, arguments: ["--heartbeat-timeout", "1"])
        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        while try await socket.receive(timeout: .seconds(10)) != nil {}
        let close = try await socket.closeFrame()
        #expect(close?.closeCode == .goingAway)
        #expect(close?.reason == "heartbeat_timeout")
        await broker.terminate()
        #expect(try disconnectReasons(journal).first == .heartbeatTimeout)
    }

    @Test func aResumeFromSeqZeroReplaysOnlyWhatTheSessionMissed() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        func publish(_ title: String) async throws {
            let body = #"{"title":"\#(title)","category":"macro"}"#
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: body).0 == 200)
        }
        // News from before the session began: the client never missed it.
        try await publish("before")
        try await Task.sleep(for: .milliseconds(5))
        let clientID = try await leftSession(on: broker, subscribingToNews: true).clientID
        try await publish("while gone")
        let marker = TestWebSocket(url: broker.webSocketURL)
        _ = try await marker.receive()

        // `since=0` claims to have seen nothing, ever: the replay still starts at the session.
        let second = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "0"))
        #expect(try await second.receive()?["resumed"] as? Bool == true)
        #expect(try await newsTitlesUntilPong(second) == ["while gone"])
        await second.close()
        await marker.close()
        await broker.terminate()
    }

    @Test func theSeqOfASubscribedReplyIsOneToResumeFromWithoutNewsFromBeforeTheSubscription() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        func publish(_ title: String) async throws -> Int {
            let (status, reply) = try await HTTP.request("POST", broker.baseURL + "/api/news", body: #"{"title":"\#(title)","category":"macro"}"#)
            #expect(status == 200)
            return try #require(reply["seq"] as? Int)
        }
        let socket = TestWebSocket(url: broker.webSocketURL)
        let clientID = try #require(try await socket.receive()?["client_id"] as? String)
        // Published in the session, before it subscribed to news: not for this client.
        let before = try await publish("before the subscription")
        try socket.send(["type": "subscribe", "subscription_type": "news", "target": "all"])
        let subscribed = try #require(try await socket.receive(type: "subscribed"))
        let seq = try #require(subscribed["seq"] as? Int)
        #expect(seq > before, "\(subscribed)")
        try socket.send(["type": "unsubscribe", "subscription_type": "news", "target": "macro"])
        #expect(try await socket.receive()?["error"] as? String == "not_subscribed")
        await socket.close()
        try await waitUntilGone(clientID, on: broker)
        _ = try await publish("while gone")

        let resumed = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "\(seq)"))
        #expect(try await resumed.receive()?["resumed"] as? Bool == true)
        #expect(try await newsTitlesUntilPong(resumed) == ["while gone"])
        try resumed.send(["type": "unsubscribe", "subscription_type": "news", "target": "all"])
        let unsubscribed = try #require(try await resumed.receive(type: "unsubscribed"))
        #expect((unsubscribed["seq"] as? Int ?? 0) > seq, "\(unsubscribed)")
        await resumed.close()
        await broker.terminate()
    }

    /// What becomes of a rule after it fired: replaced by an admin with another condition, or removed.
    enum RuleAfterFiring: String, CaseIterable, Sendable { case replaced, removed }

    @Test(arguments: RuleAfterFiring.allCases)
    func aReplayedAlertNamesTheRuleAsItFiredAsTheLiveOneDid(after change: RuleAfterFiring) async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let (socket, clientID, _) = try await openSession(on: broker)
        try socket.send(["type": "set_alert", "code": "000768", "condition": "above", "threshold": 4.5])
        let ruleID = try #require(try await socket.receive(type: "alert_set")?["rule_id"] as? String)
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: #"{"ticks":[{"code":"000768","price":4.6}]}"#).0 == 200)
        let live = try #require(try await socket.receive(type: "alert"))
        let liveData = try #require(live["data"] as? [String: Any])
        let alertSeq = try #require(live["seq"] as? Int)
        #expect(liveData["condition"] as? String == "above")
        #expect(liveData["threshold"] as? Double == 4.5)

        switch change {
        case .replaced:
            let rule = #"{"id":"\#(ruleID)","user":"\#(clientID)","code":"000768","condition":"below","threshold":3}"#
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/alerts/rules", body: rule).0 == 201)
        case .removed:
            #expect(try await HTTP.request("DELETE", broker.baseURL + "/api/alerts/rules/\(ruleID)").0 == 200)
        }
        await socket.close()
        try await waitUntilGone(clientID, on: broker)

        let resumed = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "\(alertSeq - 1)"))
        #expect(try await resumed.receive()?["resumed"] as? Bool == true)
        let replayed = try #require(try await resumed.receive(type: "alert"))
        let replayedData = try #require(replayed["data"] as? [String: Any])
        #expect(replayed["seq"] as? Int == alertSeq)
        #expect(replayedData["condition"] as? String == "above", "\(replayedData)")
        #expect(replayedData["threshold"] as? Double == 4.5, "\(replayedData)")
        #expect(replayedData["price"] as? Double == 4.6)
        await resumed.close()
        await broker.terminate()
    }

    @Test func anEventTheCatchUpCannotDecodeIsNamedInItsPlaceAndTheCatchUpGoesOn() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        var broker = try await BrokerProcess(journal: journal)
        let (clientID, seq) = try await leftSession(on: broker, subscribingToNews: true)
        for title in ["first", "damaged", "third"] {
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: #"{"title":"\#(title)","category":"macro"}"#).0 == 200)
        }
        #expect(await broker.terminate() == 0)
        // A row this build cannot decode (the shutdown snapshot holds the state past it, so
        // start-up does not read it): the catch-up is the first to.
        let news = try JournalReader(path: journal).records(JournalQuery(kinds: [EventKind.newsPublished.rawValue]))
        var newsSeqs: [UInt64] = []
        while let record = try news.next() { newsSeqs.append(record.seq) }
        try #require(newsSeqs.count == 3)
        try rawSQL(journal, "UPDATE events SET payload = x'FF' WHERE seq = \(newsSeqs[1])")

        broker = try await BrokerProcess(journal: journal)
        let resumed = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "\(seq)"))
        #expect(try await resumed.receive()?["resumed"] as? Bool == true)
        let (replayed, incomplete) = try await catchUpUntilPong(resumed)
        let titles = replayed.map(\.title)
        await resumed.close()
        #expect(await broker.terminate() == 0)

        #expect(titles == ["first", "third"], "what comes after the event it could not decode is still replayed")
        #expect(incomplete.count == 1)
        #expect(incomplete.first?.hasPrefix("event \(newsSeqs[1]) could not be decoded") == true, "\(incomplete)")
    }

    @Test func aJournalPageTheCatchUpCannotReadIsNamedAsTheSeqsNotReplayed() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        var broker = try await BrokerProcess(journal: journal)
        let (clientID, seq) = try await leftSession(on: broker, subscribingToNews: true)
        // Enough rows for many pages of news.
        for index in 0..<300 {
            let body = #"{"title":"item \#(index) \#(String(repeating: "x", count: 100))","category":"macro"}"#
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: body).0 == 200)
        }
        #expect(await broker.terminate() == 0)
        try damagePage(holding: "item 150 ", ofDatabaseAt: journal)
        let lastReadable = try #require(lastSeqReadBeforeAnError(journal))

        broker = try await BrokerProcess(journal: journal)
        let resumed = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "\(seq)"))
        #expect(try await resumed.receive()?["resumed"] as? Bool == true)
        let (news, incomplete) = try await catchUpUntilPong(resumed)
        let newsSeqs = news.map(\.seq)
        await resumed.close()
        await broker.terminate()

        #expect(!newsSeqs.isEmpty && newsSeqs.allSatisfy { $0 <= Int(lastReadable) }, "what could be read before the damage")
        #expect(incomplete.count == 1)
        let unreadFrom = (newsSeqs.last ?? seq) + 1
        #expect(incomplete.first?.hasPrefix("events \(unreadFrom)…") == true, "\(incomplete), read through \(lastReadable)")
        #expect(incomplete.first?.contains("could not be read from the journal") == true)
    }

    /// Waits until `clientID` has no connection: every connect of it has its disconnect in the
    /// journal, so it may be resumed. (Not the client list alone: a resumed connection joins it only
    /// after its catch-up, so one closed during the catch-up is missing from the list while the
    /// session is still connected.)
    private func waitUntilGone(_ clientID: String, on broker: BrokerProcess) async throws {
        for _ in 0..<250 {
            let cursor = try JournalReader(path: broker.journalPath).records(JournalQuery(
                kinds: [EventKind.clientConnected.rawValue, EventKind.clientDisconnected.rawValue], key: clientID))
            var open = 0
            while let record = try cursor.next() { open += record.kind == EventKind.clientConnected.rawValue ? 1 : -1 }
            if open == 0 { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("\(clientID) is still connected")
    }

    /// A session that connected (and subscribed to all news when `subscribingToNews`) and left: its
    /// id and the seq its `connected` carried, once it may be resumed.
    private func leftSession(on broker: BrokerProcess, subscribingToNews: Bool = false) async throws -> (clientID: String, seq: Int) {
        let socket = TestWebSocket(url: broker.webSocketURL)
        let connected = try #require(try await socket.receive())
        let clientID = try #require(connected["client_id"] as? String)
        let seq = try #require(connected["seq"] as? Int)
        if subscribingToNews {
            try socket.send(["type": "subscribe", "subscription_type": "news", "target": "all"])
            _ = try await socket.receive(type: "subscribed")
        }
        await socket.close()
        try await waitUntilGone(clientID, on: broker)
        return (clientID, seq)
    }

    /// The news items (seq, title) and the `resume_incomplete` details `socket` receives before
    /// the pong to a ping sent now.
    private func catchUpUntilPong(_ socket: TestWebSocket) async throws -> (news: [(seq: Int, title: String)], incomplete: [String]) {
        try socket.send(["type": "ping"])
        var news: [(seq: Int, title: String)] = []
        var incomplete: [String] = []
        while let message = try await socket.receive(), message["type"] as? String != "pong" {
            switch message["type"] as? String {
            case "news_update":
                news.append((message["seq"] as? Int ?? -1, (message["data"] as? [String: Any])?["title"] as? String ?? "?"))
            case "error" where message["error"] as? String == "resume_incomplete":
                incomplete.append(message["details"] as? String ?? "?")
            default:
                break
            }
        }
        return (news, incomplete)
    }

    /// The titles of the news items `socket` receives before the pong to a ping sent now.
    private func newsTitlesUntilPong(_ socket: TestWebSocket) async throws -> [String] {
        try await catchUpUntilPong(socket).news.map(\.title)
    }

    @Test func aResumeCutOffBeforeItsReplayWasReadCanBeResumedAgainFromTheSameSeq() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let (clientID, seen) = try await leftSession(on: broker, subscribingToNews: true)
        for title in ["a", "b"] {
            let body = #"{"title":"\#(title)","category":"macro"}"#
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: body).0 == 200)
        }

        // The connection drops right after `connected`, before the client read what followed it.
        let cutOff = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "\(seen)"))
        #expect(try await cutOff.receive()?["resumed"] as? Bool == true)
        await cutOff.close()
        try await waitUntilGone(clientID, on: broker)

        // So the client resumes from the same seq, and must get the items again.
        let again = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "\(seen)"))
        #expect(try await again.receive()?["resumed"] as? Bool == true)
        #expect(try await newsTitlesUntilPong(again) == ["a", "b"])
        await again.close()
        await broker.terminate()
    }

    @Test func twoResumesOfOneSessionAtOnceGiveItToOneAndAFreshSessionToTheOther() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let clientID = try await leftSession(on: broker).clientID
        for _ in 0..<2 {
            let url = broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "0")
            let sockets = [TestWebSocket(url: url), TestWebSocket(url: url)]
            var replies: [[String: Any]] = []
            for socket in sockets { replies.append(try #require(try await socket.receive())) }
            #expect(replies.allSatisfy { $0["type"] as? String == "connected" }, "\(replies)")
            let resumed = replies.indices.filter { replies[$0]["resumed"] as? Bool == true }
            try #require(resumed.count == 1, "\(replies)")
            // The winner was heard from a moment ago: not taken over, so a second client sharing
            // the id cannot take the session back and forth.
            let other = sockets[1 - resumed[0]]
            #expect(replies[1 - resumed[0]]["client_id"] as? String != clientID)
            let error = try await other.receive()
            #expect(error?["error"] as? String == "resume_failed")
            #expect((error?["details"] as? String)?.contains("still connected elsewhere") == true, "\(error ?? [:])")
            for socket in sockets { await socket.close() }
            try await waitUntilGone(clientID, on: broker)
        }
        await broker.terminate()
    }

    @Test func withoutAResumeWindowAResumeLeavesTheConnectedSessionAlone() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--resume-window", "0"])
        let first = TestWebSocket(url: broker.webSocketURL)
        let clientID = try #require(try await first.receive()?["client_id"] as? String)
        try await Task.sleep(for: .seconds(6))  // silent long enough to be taken over, were it resumable
        let second = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "0"))
        #expect(try await second.receive()?["resumed"] as? Bool == false)
        #expect(try await second.receive()?["error"] as? String == "resume_failed")
        try first.send(["type": "ping"])
        #expect(try await first.receive(type: "pong") != nil, "the first connection still serves its session")
        await first.close()
        await second.close()
        await broker.terminate()
    }

    @Test func aResumeOfASessionStillConnectedTakesItOverAndGetsWhatWasMissed() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal)
        // The first connection stops hearing anything (a network gone without a close), so the
        // broker still counts it connected when the client resumes on a new one.
        let first = TestWebSocket(url: broker.webSocketURL)
        let clientID = try #require(try await first.receive()?["client_id"] as? String)
        try first.send(["type": "subscribe", "subscription_type": "news", "target": "all"])
        let seen = try #require(try await first.receive(type: "subscribed")?["seq"] as? Int)
        // Silent since: the client's pings stopped getting through.
        try await Task.sleep(for: .seconds(6))
        let body = #"{"title":"while the old connection hung","category":"macro"}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: body).0 == 200)

        let second = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "\(seen)"))
        let connected = try #require(try await second.receive())
        #expect(connected["resumed"] as? Bool == true && connected["client_id"] as? String == clientID, "\(connected)")
        #expect(try await newsTitlesUntilPong(second) == ["while the old connection hung"])
        let close = try await first.closeFrame()
        #expect(close?.reason == "replaced", "\(String(describing: close))")
        await second.close()
        #expect(await broker.terminate() == 0)
        let reasons = try journaledEvents(journal, kinds: [.clientDisconnected]).compactMap { event -> DisconnectReason? in
            guard case .clientDisconnected(let payload) = event, payload.clientID == clientID else { return nil }
            return payload.reason
        }
        #expect(reasons.first == .replaced, "\(reasons)")
    }

    @Test func aResumeWithASinceThatIsNotASeqIsToldSo() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let clientID = try await leftSession(on: broker).clientID
        let resumed = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "-5"))
        #expect(try await resumed.receive()?["resumed"] as? Bool == true)
        let error = try await resumed.receive()
        #expect(error?["error"] as? String == "invalid_since")
        #expect((error?["details"] as? String)?.contains("'-5'") == true, "\(error ?? [:])")
        await resumed.close()
        await broker.terminate()
    }

    @Test func aLongCatchUpWaitsForASlowClientInsteadOfClosingItAsASlowConsumer() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--outbound-queue", "16"])
        let (clientID, seen) = try await leftSession(on: broker, subscribingToNews: true)
        // Far more than the socket (its send buffer grows to 4 MB), NIO's buffer and an outbound
        // queue of 16 hold together: 6.4 MB.
        let summary = String(repeating: "x", count: 16_000)
        for n in 0..<400 {
            let body = #"{"title":"n\#(n)","summary":"\#(summary)","category":"macro"}"#
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: body).0 == 200)
        }
        let slow = try StalledWebSocket(port: broker.port, path: "/ws/stock/prices?" + broker.resumeQuery(clientID, since: "\(seen)"), readTimeout: 10)
        // It reads nothing for a while, then everything.
        try await Task.sleep(for: .seconds(1))
        var titles: [String] = []
        while titles.count < 400 {
            let frame = try slow.readFrame()
            try #require(frame.opcode != 0x8, "closed with \(frame.closeCode ?? 0) \(frame.closeReason) after \(titles.count) items")
            guard frame.opcode == 0x1, let message = try JSONSerialization.jsonObject(with: Data(frame.payload)) as? [String: Any],
                message["type"] as? String == "news_update"
            else { continue }
            titles.append((message["data"] as? [String: Any])?["title"] as? String ?? "?")
        }
        #expect(titles == (0..<400).map { "n\($0)" })
        await broker.terminate()
    }

    @Test func aLongMissedStretchIsReplayedWholeAndInOrderWhileTicksGoOn() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        func postTicks(_ round: Int) async throws {
            let ticks = (0..<100).map { #"{"code":"600\#(String(format: "%03d", $0))","price":\#(10 + Double(round % 50) / 10),"volume":\#(round)}"# }
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: #"{"ticks":[\#(ticks.joined(separator: ","))]}"#).0 == 200)
        }
        let (clientID, since) = try await leftSession(on: broker, subscribingToNews: true)

        // Twelve news items among 6,000 ticks: far more than the catch-up reads on the store.
        var published: [String] = []
        for round in 0..<60 {
            try await postTicks(round)
            if round % 5 == 4 {
                let title = "item \(round / 5)"
                #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: #"{"title":"\#(title)","category":"macro"}"#).0 == 200)
                published.append(title)
            }
        }
        // Ticks keep coming while the client resumes, so its catch-up chases a moving end. The
        // feeder is stopped between requests, not cancelled (a cancelled request of the URLSession
        // these tests used before left its task waiting for good on Linux: a local run hung so).
        let feeding = Atomic<Bool>(true)
        let feeder = Task {
            var round = 60
            while feeding.load(ordering: .relaxed) {
                try await postTicks(round)
                round += 1
            }
        }
        let second = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "\(since)"))
        #expect(try await second.receive()?["resumed"] as? Bool == true)
        try second.send(["type": "ping"])
        var titles: [String] = []
        var seqs: [Int] = []
        while let message = try await second.receive(), message["type"] as? String != "pong" {
            if message["type"] as? String == "news_update" {
                titles.append((message["data"] as? [String: Any])?["title"] as? String ?? "?")
                seqs.append(message["seq"] as? Int ?? 0)
            }
        }
        feeding.store(false, ordering: .relaxed)
        _ = await feeder.result
        #expect(titles == published, "every item once, in the order published")
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
        await second.close()
        await broker.terminate()
    }

    @Test func webSocketPingFramesKeepAConnectionAlive() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--heartbeat-timeout", "1"])
        let client = try StalledWebSocket(port: broker.port)
        func connected() async throws -> Int {
            let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
            return (stats["connections"] as? [String: Any])?["active"] as? Int ?? -1
        }
        // Three heartbeat timeouts of nothing but RFC 6455 pings, one every 200 ms.
        for _ in 0..<15 {
            try client.ping()
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(try await connected() == 1)
        // Silent, the same connection is closed for the heartbeat.
        var remaining = 100
        while try await connected() == 1, remaining > 0 {
            try await Task.sleep(for: .milliseconds(100))
            remaining -= 1
        }
        #expect(try await connected() == 0)
        await broker.terminate()
        #expect(try disconnectReasons(dir.path("j.sqlite")) == [.heartbeatTimeout])
    }

    @Test func pingsFromAClientThatDoesNotReadDoNotPileUpPongs() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let client = try StalledWebSocket(port: broker.port)
        func rssKilobytes() throws -> Int {
            let status = try String(contentsOfFile: "/proc/\(broker.process.processIdentifier)/status", encoding: .utf8)
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        try client.ping()
        let before = try rssKilobytes()
        // 100,000 pings of 125 bytes: their pongs are 12.7 MB, 4 MB of which the kernel's socket
        // buffer takes. Queued in the broker, the rest grew its RSS by ~35 MB (measured, release).
        for _ in 0..<100 { try client.ping(count: 1_000, payloadSize: 125) }
        // Frames are read in order: once the message after the pings counts, every ping was read.
        try client.send(#"{"type":"ping"}"#)
        var messagesIn = 0
        for _ in 0..<1_200 where messagesIn == 0 {
            let (_, body) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
            messagesIn = ((body["clients"] as? [[String: Any]])?.first?["messages_in"] as? Int) ?? 0
            if messagesIn == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(messagesIn == 1)
        let growth = try rssKilobytes() - before
        #expect(growth < 16_000, "RSS grew by \(growth) KB")
        let (status, _) = try await HTTP.request("GET", broker.baseURL + "/healthz")
        #expect(status == 200)
        #expect(await broker.terminate() == 0)
    }

    @Test func sigtermClosesClientsJournalsShutdownSnapshotsAndExitsZero() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal)
        let socket = TestWebSocket(url: broker.webSocketURL)
        _ = try await socket.receive()
        try socket.send(["type": "subscribe", "subscription_type": "stock", "target": "600519"])
        _ = try await socket.receive(type: "price_update")

        let started = ContinuousClock.now
        let status = await broker.terminate()
        #expect(status == 0)
        #expect(ContinuousClock.now - started < .seconds(10))
        while try await socket.receive() != nil {}
        #expect(try await socket.closeFrame()?.closeCode == .goingAway)

        #expect(try disconnectReasons(journal) == [.shutdown])
        let reader = try JournalReader(path: journal)
        #expect(try reader.verify().isValid)
        let last = try #require(try reader.last())
        #expect(try reader.snapshots().first?.seq == last.seq)
    }

    /// A client that reads everything and one that reads nothing after its handshake, both
    /// subscribed to `type` `target` (waited for until the broker counts both).
    private func readerAndStalledClient(
        on broker: BrokerProcess, subscribingTo type: String, _ target: String
    ) async throws -> (TestWebSocket, StalledWebSocket) {
        let reader = TestWebSocket(url: broker.webSocketURL)
        _ = try await reader.receive()
        try reader.send(["type": "subscribe", "subscription_type": type, "target": target])
        #expect(try await reader.receive(type: "subscribed") != nil)
        let stalled = try StalledWebSocket(port: broker.port)
        try stalled.send(#"{"type":"subscribe","subscription_type":"\#(type)","target":"\#(target)"}"#)
        for _ in 0..<100 {
            let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
            if (stats["subscriptions"] as? [String: Any])?[type] as? Int == 2 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return (reader, stalled)
    }

    @Test func aClientThatStopsReadingIsDisconnectedAsASlowConsumerWhileOthersGetEverything() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal, arguments: ["--outbound-queue", "16"])
        let (reader, stalled) = try await readerAndStalledClient(on: broker, subscribingTo: "news", "all")

        // News must arrive, so it is never coalesced: the stalled client's queue overflows.
        let summary = String(repeating: "新闻", count: 2_000)
        var posted = 0
        var slowConsumers = 0
        while posted < 3_000 && slowConsumers == 0 {
            let body = #"{"title":"n\#(posted)","summary":"\#(summary)","category":"macro"}"#
            #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: body).0 == 200)
            posted += 1
            if posted % 25 == 0 {
                let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
                slowConsumers = (stats["connections"] as? [String: Any])?["slow_consumer_disconnects"] as? Int ?? 0
            }
        }
        #expect(slowConsumers == 1)

        for n in 0..<posted {
            let news = try #require(try await reader.receive(type: "news_update"))
            #expect((news["data"] as? [String: Any])?["title"] as? String == "n\(n)")
        }
        await reader.close()
        await broker.terminate()
        #expect(try disconnectReasons(journal).contains(.slowConsumer))
        withExtendedLifetime(stalled) {}
    }

    @Test func aClientWithOnlyPriceSubscriptionsThatStopsReadingIsClosedOnceItsSocketTakesNothing() async throws {
        // Coalescing keeps its queue short (one merged update per subscription) however long it
        // reads nothing: the queue never overflows, and the pings it could send would keep the
        // heartbeat happy. Its socket taking nothing for slow_consumer_timeout ends it.
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal, arguments: ["--slow-consumer-timeout", "1"])
        let (reader, stalled) = try await readerAndStalledClient(on: broker, subscribingTo: "market", "sh")

        // 300 codes a round, ~40 KB a message: the socket's buffers fill after a few hundred rounds.
        var posted = 0
        var slowConsumers = 0
        var maxDepth = 0
        let started = ContinuousClock.now
        while slowConsumers == 0 && ContinuousClock.now - started < .seconds(60) {
            let rows = (0..<300).map { #"{"code":"\#(600_000 + $0)","name":"Stock \#($0)","price":\#(10 + posted % 100),"volume":\#(posted + 1),"prev_close":10}"# }
            let (status, _) = try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: #"{"ticks":[\#(rows.joined(separator: ","))]}"#)
            #expect(status == 200)
            posted += 1
            if posted % 20 == 0 {
                let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
                slowConsumers = (stats["connections"] as? [String: Any])?["slow_consumer_disconnects"] as? Int ?? 0
                let (_, clients) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
                let depths = (clients["clients"] as? [[String: Any]] ?? []).compactMap { $0["queue_depth"] as? Int }
                maxDepth = max(maxDepth, depths.max() ?? 0)
            }
        }
        #expect(slowConsumers == 1, "after \(posted) rounds")
        #expect(maxDepth < 1_024, "closed for taking nothing, not for a queue past outbound_queue (\(maxDepth))")

        // The reader got every round's latest price.
        let last = "\(10 + (posted - 1) % 100)"
        var latest: Double?
        while latest.map({ "\(Int($0))" }) != last {
            let update = try #require(try await reader.receive(type: "price_update"))
            latest = (update["data"] as? [[String: Any]])?.first { $0["code"] as? String == "600299" }?["price"] as? Double ?? latest
        }
        await reader.close()
        await broker.terminate()
        #expect(try disconnectReasons(journal).contains(.slowConsumer))
        withExtendedLifetime(stalled) {}
    }
}
