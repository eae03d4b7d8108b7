import Broker
import Foundation
import Journal
import Testing
import TestSupport

/// The audit CLI against a real `brokerd serve`: replays match what the broker showed live at the
/// same seqs, filters select what they say, and snapshot / compact / verify work while it serves.
@Suite(.serialized) struct JournalCLITests {
    // MARK: Running brokerd

    /// Runs `brokerd journal <arguments>` to completion.
    private func journalCLI(_ arguments: [String]) async throws -> CommandResult {
        try await runCommand(productsDirectory().appendingPathComponent("brokerd"), ["journal"] + arguments)
    }

    /// Runs `brokerd serve` on `journal` until it exits by itself, or 20 s (exit status 124, from
    /// `timeout`: it served).
    private func serveUntilItStops(_ journal: String, in dir: TemporaryDirectory) async throws -> CommandResult {
        let config = dir.path("empty.toml")
        _ = FileManager.default.createFile(atPath: config, contents: Data())
        return try await runCommand(URL(fileURLWithPath: "/usr/bin/timeout"), [
            "20", productsDirectory().appendingPathComponent("brokerd").path,
            "serve", "--journal", journal, "--config", config, "--port", "0", "--simulator", "off",
        ])
    }

    // MARK: Driving the broker

    private func connect(_ broker: BrokerProcess) async throws -> (TestWebSocket, String) {
        let socket = TestWebSocket(url: broker.webSocketURL)
        let connected = try #require(try await socket.receive())
        return (socket, try #require(connected["client_id"] as? String))
    }

    private func subscribe(_ socket: TestWebSocket, _ type: String, _ target: String) async throws {
        try socket.send(["type": "subscribe", "subscription_type": type, "target": target])
        #expect(try await socket.receive(type: "subscribed")?["target"] as? String == target)
    }

    private func unsubscribe(_ socket: TestWebSocket, _ type: String, _ target: String) async throws {
        try socket.send(["type": "unsubscribe", "subscription_type": type, "target": target])
        #expect(try await socket.receive(type: "unsubscribed")?["target"] as? String == target)
    }

    private func post(_ broker: BrokerProcess, _ path: String, _ body: String, method: String = "POST") async throws {
        let (status, reply) = try await HTTP.request(method, broker.baseURL + path, body: body)
        #expect(status == 200 || status == 201, "\(method) \(path): \(reply)")
    }

    private func postTicks(_ broker: BrokerProcess, _ ticks: [(String, Double)]) async throws {
        let rows = ticks.map { #"{"code":"\#($0.0)","name":"Stock \#($0.0)","price":\#($0.1),"volume":100,"prev_close":10}"# }
        try await post(broker, "/api/ticks", #"{"ticks":[\#(rows.joined(separator: ","))]}"#)
    }

    /// What the broker shows live: its last seq and its connected clients with their subscriptions.
    struct LiveState {
        var seq: Int
        var clients: [String: (remote: String?, subscriptions: Set<String>)]
        var strategyCodes: [String]
    }

    private func liveSeq(_ broker: BrokerProcess) async throws -> Int {
        let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
        return try #require((stats["journal"] as? [String: Any])?["last_seq"] as? Int)
    }

    /// Reads the live state once nothing moves: the seq is the same before and after the clients list.
    private func recordLiveState(_ broker: BrokerProcess, expectClients count: Int) async throws -> LiveState {
        for _ in 0..<100 {
            let before = try await liveSeq(broker)
            let (_, body) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
            let rows = body["clients"] as? [[String: Any]] ?? []
            let (_, signals) = try await HTTP.request("GET", broker.baseURL + "/api/signals/buy?strategy=volume_wave")
            try await Task.sleep(for: .milliseconds(100))
            guard rows.count == count, try await liveSeq(broker) == before else { continue }
            var clients: [String: (String?, Set<String>)] = [:]
            for row in rows {
                let subscriptions = (row["subscriptions"] as? [[String: Any]] ?? []).map {
                    "\($0["type"] as? String ?? ""):\($0["target"] as? String ?? "")"
                }
                clients[row["client_id"] as? String ?? ""] = (row["remote"] as? String, Set(subscriptions))
            }
            let codes = (signals["signals"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            return LiveState(seq: before, clients: clients, strategyCodes: codes)
        }
        throw LiveStateError.neverSettled
    }

    enum LiveStateError: Error { case neverSettled }

    private func reportedClients(_ report: [String: Any]) -> [[String: Any]] {
        report["clients"] as? [[String: Any]] ?? []
    }

    private func subscriptions(_ client: [String: Any]) -> Set<String> {
        Set((client["subscriptions"] as? [[String: Any]] ?? []).map {
            "\($0["type"] as? String ?? ""):\($0["target"] as? String ?? "")"
        })
    }

    private func price(_ report: [String: Any], _ code: String) -> Double? {
        (report["prices"] as? [[String: Any]])?.first { $0["code"] as? String == code }?["price"] as? Double
    }

    // MARK: Tests

    @Test func replayAtSeveralSeqsMatchesTheLiveStateRecordedAtThoseSeqs() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal)
        try await post(broker, "/api/signals/volume_wave", #"{"signals":[{"code":"600519","name":"Maotai"},{"code":"000001","name":"PingAn"}]}"#, method: "PUT")
        try await postTicks(broker, [("600519", 12.5)])

        let (a, aID) = try await connect(broker)
        try await subscribe(a, "strategy", "volume_wave")
        try await subscribe(a, "stock", "600519")
        let first = try await recordLiveState(broker, expectClients: 1)

        let (b, bID) = try await connect(broker)
        try await subscribe(b, "market", "sh")
        try await subscribe(b, "news", "all")
        try await post(broker, "/api/alerts/rules", #"{"id":"r-audit","user":"alice","code":"600519","condition":"above","threshold":13}"#)
        try await postTicks(broker, [("600519", 13.5), ("000001", 9.5)])
        try await unsubscribe(a, "stock", "600519")
        try await post(broker, "/api/signals/volume_wave", #"{"signals":[{"code":"600519","name":"Maotai"}]}"#, method: "PUT")
        let second = try await recordLiveState(broker, expectClients: 2)

        await b.close()
        let third = try await recordLiveState(broker, expectClients: 1)
        #expect(first.seq < second.seq && second.seq < third.seq)

        // Replayed while the broker is still serving the same file.
        for (live, expectedPrice) in [(first, 12.5), (second, 13.5), (third, 13.5)] {
            let replay = try await journalCLI(["replay", "--journal", journal, "--until-seq", "\(live.seq)", "--json"])
            #expect(replay.status == 0, "\(replay.stderr)")
            let report = replay.json
            #expect(report["last_seq"] as? Int == live.seq)
            let connected = reportedClients(report).filter { $0["state"] as? String == "connected" }
            #expect(Set(connected.compactMap { $0["client_id"] as? String }) == Set(live.clients.keys), "at seq \(live.seq)")
            for client in connected {
                let id = client["client_id"] as? String ?? ""
                #expect(client["remote"] as? String == live.clients[id]?.remote)
                #expect(subscriptions(client) == live.clients[id]?.subscriptions, "subscriptions of \(id) at seq \(live.seq)")
            }
            let strategies = report["signals"] as? [[String: Any]] ?? []
            let codes = (strategies.first?["signals"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            #expect(codes == live.strategyCodes)
            #expect(price(report, "600519") == expectedPrice)
        }

        // What only the journal remembers: the rule fired, and b is gone but resumable.
        let last = try await journalCLI(["replay", "--journal", journal, "--until-seq", "\(third.seq)", "--json"]).json
        let rule = (last["alert_rules"] as? [[String: Any]])?.first
        #expect(rule?["id"] as? String == "r-audit" && rule?["triggered"] as? Bool == true)
        let gone = reportedClients(last).first { $0["client_id"] as? String == bID }
        #expect(gone?["state"] as? String == "gone" && gone?["reason"] as? String == "closed")
        #expect(subscriptions(gone ?? [:]) == ["market:sh", "news:all"])

        let text = try await journalCLI(["replay", "--journal", journal, "--until-seq", "\(third.seq)"])
        #expect(text.status == 0)
        #expect(text.stdout.hasPrefix("State at seq \(third.seq) ("))
        #expect(text.stdout.contains("Clients: 1 connected, 1 gone"))
        #expect(text.stdout.contains("\(aID)  connected"))
        #expect(text.stdout.contains("r-audit  user alice  600519 above 13  triggered"))
        // The same seq twice gives the same bytes.
        let again = try await journalCLI(["replay", "--journal", journal, "--until-seq", "\(second.seq)", "--json"])
        let once = try await journalCLI(["replay", "--journal", journal, "--until-seq", "\(second.seq)", "--json"])
        #expect(again.stdout == once.stdout && !once.stdout.isEmpty)

        await a.close()
        #expect(await broker.terminate() == 0)
        _ = dir
    }

    @Test func replayUntilATimeIsTheStateAfterTheLastEventAtOrBeforeIt() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal)
        for price in [10.0, 11, 12, 13, 14, 15] {
            try await postTicks(broker, [("600519", price), ("000001", price)])
            try await Task.sleep(for: .milliseconds(5))
        }
        let events = try await journalCLI(["events", "--journal", journal]).jsonLines
        let times = try events.map { try #require(ISOTimestamp.parse($0["ts"] as? String ?? "")) }
        let seqs = events.compactMap { $0["seq"] as? Int }
        // Twelve ticks; the k-line publisher may add bar closes if the run crosses a minute boundary.
        #expect(events.filter { $0["kind"] as? String == "price_ticked" }.count == 12)
        #expect(seqs == Array(1...max(seqs.count, 1)))

        for index in [0, 5, 6, 11] {
            let time = times[index]
            let atOrBefore = zip(seqs, times).filter { $0.1 <= time }.map(\.0).max()
            let before = zip(seqs, times).filter { $0.1 < time }.map(\.0).max() ?? 0
            let iso = try await journalCLI(["replay", "--journal", journal, "--until", events[index]["ts"] as! String, "--json"])
            #expect(iso.json["last_seq"] as? Int == atOrBefore, "\(iso.stderr)")
            let micros = try await journalCLI(["replay", "--journal", journal, "--until", "\(time - 1)", "--json"])
            #expect(micros.json["last_seq"] as? Int == before)
        }
        // With an offset: the same instant written as +08:00 wall time.
        let instant = times[7]
        let plusEight = String(ISOTimestamp.format(microseconds: instant + 8 * 3_600_000_000).dropLast()) + "+08:00"
        #expect(ISOTimestamp.parse(plusEight) == instant)
        let zoned = try await journalCLI(["replay", "--journal", journal, "--until", plusEight, "--json"])
        #expect(zoned.json["last_seq"] as? Int == zip(seqs, times).filter { $0.1 <= instant }.map(\.0).max())
        let beforeEverything = try await journalCLI(["replay", "--journal", journal, "--until", "2000-01-01T00:00:00Z", "--json"])
        #expect(beforeEverything.json["last_seq"] as? Int == 0 && (beforeEverything.json["prices"] as? [Any])?.isEmpty == true)
        await broker.terminate()
        _ = dir
    }

    /// A crash's disconnects are journaled at the next start, but with the dead process's last
    /// sign of life: a replay until a moment of the downtime shows the client gone, not connected.
    @Test func aReplayUntilAMomentOfACrashsDowntimeShowsItsClientsGone() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        var broker = try await BrokerProcess(journal: journal)
        let (socket, clientID) = try await connect(broker)
        try await subscribe(socket, "stock", "600519")
        await broker.kill9()
        await socket.close()
        try await Task.sleep(for: .milliseconds(1_500))
        broker = try await BrokerProcess(journal: journal)
        let restartedAt = WallClock.microsecondsNow()
        #expect(await broker.terminate() == 0)

        let events = try await journalCLI(["events", "--journal", journal]).jsonLines
        let restart = try #require(events.firstIndex { $0["kind"] as? String == "client_disconnected" })
        #expect((events[restart]["payload"] as? [String: Any])?["reason"] as? String == "broker_restart", "\(events[restart])")
        let lastEvent = try #require(ISOTimestamp.parse(events[restart - 1]["ts"] as? String ?? ""))
        let journaledAt = try #require(ISOTimestamp.parse(events[restart]["ts"] as? String ?? ""))
        // Its last event, or a sign of life it recorded later (every 5 s): not the restart.
        #expect(journaledAt >= lastEvent && restartedAt - journaledAt > 1_000_000, "\(journaledAt) \(lastEvent) \(restartedAt)")

        let duringDowntime = try await journalCLI(["replay", "--journal", journal, "--until", "\(journaledAt + 500_000)", "--json"])
        #expect(duringDowntime.status == 0, "\(duringDowntime.stderr)")
        let client = try #require(reportedClients(duringDowntime.json).first { $0["client_id"] as? String == clientID })
        #expect(client["state"] as? String == "gone", "\(client)")
        #expect(subscriptions(client) == ["stock:600519"], "kept for the resume window")
        let beforeTheCrash = try await journalCLI(["replay", "--journal", journal, "--until", "\(journaledAt - 1)", "--json"])
        #expect(reportedClients(beforeTheCrash.json).first { $0["client_id"] as? String == clientID }?["state"] as? String == "connected")
        #expect(try JournalReader(path: journal).verify().isValid)
        _ = dir
    }

    @Test func eventsAreFilteredByClientKindCodeTimeAndSeq() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let broker = try await BrokerProcess(journal: journal)
        let (a, aID) = try await connect(broker)
        try await subscribe(a, "stock", "600519")
        let (b, bID) = try await connect(broker)
        try await subscribe(b, "stock", "000001")
        try await postTicks(broker, [("600519", 12), ("000001", 9)])
        try await postTicks(broker, [("600519", 12.5)])
        try await post(broker, "/api/news", #"{"title":"Maotai news","category":"company","codes":["600519"]}"#)
        try await post(broker, "/api/news", #"{"title":"Macro","category":"macro"}"#)
        try await post(broker, "/api/alerts/rules", #"{"id":"r1","user":"alice","code":"600519","condition":"above","threshold":100}"#)
        await b.close()
        _ = try await recordLiveState(broker, expectClients: 1)

        let all = try await journalCLI(["events", "--journal", journal])
        #expect(all.status == 0)
        let lines = all.jsonLines
        #expect(lines.count == all.lines.count && !lines.isEmpty)
        #expect(lines.compactMap { $0["seq"] as? Int } == Array(1...lines.count))
        #expect(lines.allSatisfy { Set($0.keys).isSuperset(of: ["seq", "ts", "kind", "key", "payload"]) })
        #expect(lines.allSatisfy { ($0["ts"] as? String)?.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z/) != nil })

        let ofA = try await journalCLI(["events", "--journal", journal, "--client", aID]).jsonLines
        #expect(ofA.map { $0["kind"] as? String } == ["client_connected", "subscribed"])
        #expect(ofA.allSatisfy { $0["key"] as? String == aID })
        let ofB = try await journalCLI(["events", "--journal", journal, "--client", bID]).jsonLines
        #expect(ofB.map { $0["kind"] as? String } == ["client_connected", "subscribed", "client_disconnected"])
        // The clients are anonymous: alice has only her rule (her sessions' events: EventFilterTests).
        let ofAlice = try await journalCLI(["events", "--journal", journal, "--user", "alice"]).jsonLines
        #expect(ofAlice.map { $0["kind"] as? String } == ["alert_rule_set"])

        let ticks = try await journalCLI(["events", "--journal", journal, "--kind", "price_ticked", "--code", "600519"])
        #expect(ticks.jsonLines.compactMap { ($0["payload"] as? [String: Any])?["price"] as? Double } == [12, 12.5])
        let byNumber = try await journalCLI(["events", "--journal", journal, "--kind", "6", "--code", "600519"])
        #expect(byNumber.stdout == ticks.stdout)

        let aboutCode = try await journalCLI(["events", "--journal", journal, "--code", "600519"]).jsonLines
        // Bar closes of 600519 belong here too, but appear only if the run crosses a minute boundary.
        #expect(aboutCode.compactMap { $0["kind"] as? String }.filter { $0 != "kline_updated" }
            == ["subscribed", "price_ticked", "price_ticked", "news_published", "alert_rule_set"])

        let kinds = try await journalCLI(["events", "--journal", journal, "--kind", "news_published", "--kind", "alert_rule_set"])
        #expect(kinds.jsonLines.compactMap { $0["kind"] as? String } == ["news_published", "news_published", "alert_rule_set"])

        let page = try await journalCLI(["events", "--journal", journal, "--from-seq", "3", "--limit", "2"])
        #expect(page.jsonLines.compactMap { $0["seq"] as? Int } == [3, 4])

        let from = try #require(lines[4]["ts"] as? String), to = try #require(lines[6]["ts"] as? String)
        let window = try await journalCLI(["events", "--journal", journal, "--from", from, "--to", to]).jsonLines
        let fromTime = try #require(ISOTimestamp.parse(from)), toTime = try #require(ISOTimestamp.parse(to))
        let expected = lines.filter { (ISOTimestamp.parse($0["ts"] as? String ?? "") ?? 0) >= fromTime && (ISOTimestamp.parse($0["ts"] as? String ?? "") ?? 0) <= toTime }
        #expect(window.compactMap { $0["seq"] as? Int } == expected.compactMap { $0["seq"] as? Int })
        #expect(window.count >= 3)

        await a.close()
        await broker.terminate()
        _ = dir
    }

    @Test func statsAndASnapshotTakenWhileServingWhichTheNextStartUpUses() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        var broker = try await BrokerProcess(journal: journal)
        try await post(broker, "/api/signals/volume_wave", #"{"signals":[{"code":"600519","name":"Maotai"}]}"#, method: "PUT")
        // The ticks open bars; a close at the minute's end would add a row after the snapshot's seq.
        try await waitForRoomInTheMinute()
        for price in [10.0, 11, 12] { try await postTicks(broker, [("600519", price)]) }
        let seq = try await liveSeq(broker)

        let stats = try await journalCLI(["stats", "--journal", journal, "--json"])
        #expect(stats.status == 0, "\(stats.stderr)")
        #expect(stats.json["rows"] as? Int == seq && stats.json["last_seq"] as? Int == seq && stats.json["first_seq"] as? Int == 1)
        // Bar closes (kline_updated) appear too if the run crosses a minute boundary.
        #expect((stats.json["events_by_kind"] as? [String: Int])?.filter { $0.key != "kline_updated" } == ["signals_replaced": 1, "price_ticked": 3])
        let size = try #require(stats.json["size"] as? [String: Int])
        #expect(size["main"]! > 0 && size["total"] == size["main"]! + size["wal"]!)
        #expect((stats.json["snapshots"] as? [Any])?.isEmpty == true)

        let snapshot = try await journalCLI(["snapshot", "--journal", journal])
        #expect(snapshot.status == 0, "\(snapshot.stderr)")
        #expect(snapshot.stdout.contains("snapshot at seq \(seq) ") && snapshot.stdout.contains("snapshots table of \(journal)"))
        // The broker keeps appending after the snapshot was written beside it.
        try await postTicks(broker, [("600519", 13)])
        let listed = try await journalCLI(["stats", "--journal", journal, "--json"]).json["snapshots"] as? [[String: Any]]
        #expect(listed?.count == 1 && listed?.first?["seq"] as? Int == seq && listed?.first?["checksum_ok"] as? Bool == true)
        let text = try await journalCLI(["stats", "--journal", journal])
        #expect(text.stdout.contains("price_ticked") && text.stdout.contains("seq \(seq)") && text.stdout.contains("checksum ok"))

        // No snapshot of its own on SIGKILL: the restart must start from ours and replay the tick after it.
        await broker.kill9()
        broker = try await BrokerProcess(journal: journal)
        #expect(broker.logText.contains("snapshot=\(seq) "), "\(broker.logText)")
        #expect(broker.logText.contains("replayed=1 "))
        let (_, signals) = try await HTTP.request("GET", broker.baseURL + "/api/signals/buy?strategy=volume_wave")
        #expect(signals["count"] as? Int == 1)
        await broker.terminate()
        #expect(try await journalCLI(["verify", "--journal", journal]).status == 0)
        _ = dir
    }

    @Test func compactWhileServingThenVerifyAloneAndWithTheArchiveThenRestartRecovers() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let archive = dir.path("archive.sqlite")
        var broker = try await BrokerProcess(journal: journal)
        try await post(broker, "/api/signals/volume_wave", #"{"signals":[{"code":"600519","name":"Maotai"}]}"#, method: "PUT")
        let (socket, clientID) = try await connect(broker)
        try await subscribe(socket, "strategy", "volume_wave")
        // The ticks open 1m and 5m bars; their closes at the minute's end would add rows this test counts.
        try await waitForRoomInTheMinute()
        for price in [10.0, 11, 12, 13, 14] { try await postTicks(broker, [("600519", price)]) }
        let earlyState = try await journalCLI(["replay", "--journal", journal, "--until-seq", "3", "--json"])

        // Refused without a snapshot that covers the archived rows.
        let refused = try await journalCLI(["compact", "--journal", journal, "--before-seq", "5", "--archive", archive, "--allow-recent"])
        #expect(refused.status == 2 && refused.stderr.contains("no usable snapshot"))
        #expect(!FileManager.default.fileExists(atPath: archive))

        #expect(try await journalCLI(["snapshot", "--journal", journal]).status == 0)
        let snapshotSeq = try await liveSeq(broker)
        let compact = try await journalCLI(["compact", "--journal", journal, "--before-seq", "\(snapshotSeq - 1)", "--archive", archive, "--allow-recent"])
        #expect(compact.status == 0, "\(compact.stderr)")
        #expect(compact.stdout.contains("archived seqs 1...\(snapshotSeq - 2) to \(archive)"))

        // The broker never noticed: it keeps serving and appending.
        try await postTicks(broker, [("600519", 15)])
        let alone = try await journalCLI(["verify", "--journal", journal])
        #expect(alone.status == 0 && alone.stdout.contains("chain starts after seq \(snapshotSeq - 2)"), "\(alone.stdout)\(alone.stderr)")
        let whole = try await journalCLI(["verify", "--journal", journal, "--archive", archive])
        #expect(whole.status == 0 && whole.stdout.hasPrefix("OK: \(snapshotSeq + 1) rows verified across 2 files"), "\(whole.stdout)")
        // Files given out of order (here an archive twice) are a usage error, not a broken chain.
        let twice = try await journalCLI(["verify", "--journal", journal, "--archive", archive, "--archive", archive])
        #expect(twice.status == 2 && twice.stdout.isEmpty && twice.stderr.contains("give the archives oldest first, each once"), "\(twice)")

        // Old states now need the archive, and come back unchanged with it.
        let without = try await journalCLI(["replay", "--journal", journal, "--until-seq", "3", "--json"])
        #expect(without.status == 2 && without.stderr.contains("--archive"))
        let withArchive = try await journalCLI(["replay", "--journal", journal, "--archive", archive, "--until-seq", "3", "--json"])
        #expect(withArchive.stdout == earlyState.stdout)
        let events = try await journalCLI(["events", "--journal", journal])
        #expect(events.jsonLines.first?["seq"] as? Int == snapshotSeq - 1)
        #expect(events.status == 0 && events.stderr.contains("starts after seq \(snapshotSeq - 2)") && events.stderr.contains("--archive"),
            "an audit of the whole journal is told what it lacks: \(events.stderr)")
        let allEvents = try await journalCLI(["events", "--journal", journal, "--archive", archive])
        #expect(allEvents.jsonLines.compactMap { $0["seq"] as? Int } == Array(1...(snapshotSeq + 1)))
        #expect(allEvents.stderr.isEmpty, "nothing is lacking with the archive: \(allEvents.stderr)")
        let later = try await journalCLI(["events", "--journal", journal, "--from-seq", "\(snapshotSeq)"])
        #expect(later.status == 0 && later.stderr.isEmpty, "a range after the archived rows lacks nothing: \(later.stderr)")
        let stats = try await journalCLI(["stats", "--journal", journal, "--json"]).json
        #expect(stats["base_seq"] as? Int == snapshotSeq - 2 && stats["first_seq"] as? Int == snapshotSeq - 1)

        await socket.close()
        #expect(await broker.terminate() == 0)
        #expect(try await journalCLI(["verify", "--journal", journal, "--archive", archive]).status == 0)

        // Start-up on the compacted journal: from the snapshot, then the tail.
        broker = try await BrokerProcess(journal: journal)
        let (_, signals) = try await HTTP.request("GET", broker.baseURL + "/api/signals/buy?strategy=volume_wave")
        #expect(signals["count"] as? Int == 1)
        // Resuming from before the compaction point: the session comes back, and the client is told
        // that what was archived is not replayed.
        let resumed = TestWebSocket(url: broker.webSocketURL + "?" + broker.resumeQuery(clientID, since: "2"))
        #expect(try await resumed.receive()?["resumed"] as? Bool == true)
        let incomplete = try await resumed.receive(type: "error")
        #expect(incomplete?["error"] as? String == "resume_incomplete")
        #expect((incomplete?["details"] as? String)?.contains("events 3…\(snapshotSeq - 2) were compacted") == true)
        await resumed.close()
        #expect(await broker.terminate() == 0)
        let head = try await journalCLI(["replay", "--journal", journal, "--json"]).json
        #expect(price(head, "600519") == 15)
        #expect(try await journalCLI(["verify", "--journal", journal, "--archive", archive]).status == 0)
        _ = dir
    }

    /// A closed journal with a few events written by the store; returns the state at its last seq.
    private func journalWithEvents(_ path: String, ticks: Int = 3) async throws -> Projection {
        let opened = try Journal.open(path: path)
        let store = try EventStore(journal: opened)
        try await store.execute(.replaceSignals(strategy: "volume_wave", signals: [Signal(code: "600519", name: "Maotai")]))
        for price in (0..<ticks).map({ 10 + Double($0) }) {
            try await store.execute(.ingestTicks([FedTick(code: "600519", name: "M", price: price, volume: 1, prevClose: 9, timestamp: 0)]))
        }
        let state = await store.projection
        opened.close()
        return state
    }

    /// The snapshot a build before format 2 (f5fc3b0) wrote of `projection`.
    private func formatOneSnapshot(of projection: Projection) throws -> [UInt8] {
        try #require(projection.clients.values.allSatisfy { $0.startedAt == $0.connectedAt })
        return try TestSupport.formatOneSnapshot(fromFormatFour: projection.serialized(), newsIDs: Array(projection.newsIDs.ids))
    }

    /// The last row committed is gone: the state at the end (no target, or a time after the last
    /// row) is refused in one line, as `serve` and `verify` refuse the file; a seq it holds is not.
    @Test func replayAndSnapshotRefuseTheEndOfAJournalWhoseLastCommittedRowIsGone() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let state = try await journalWithEvents(journal)
        try rawSQL(journal, "DELETE FROM events WHERE seq = \(state.lastSeq)")
        let gone = "row seq \(state.lastSeq) in \(journal) is gone"

        for arguments in [["replay"], ["replay", "--until", "2999-01-01T00:00:00Z"], ["snapshot"]] {
            let refused = try await journalCLI(arguments + ["--journal", journal])
            #expect(refused.status == 2 && refused.stderr.contains(gone), "\(arguments): \(refused)")
            #expect(refused.stdout.isEmpty, "\(arguments)")
        }
        let before = try await journalCLI(["replay", "--journal", journal, "--until-seq", "\(state.lastSeq - 1)", "--json"])
        #expect(before.status == 0 && before.json["last_seq"] as? Int == Int(state.lastSeq - 1), "\(before)")
        #expect(try JournalReader(path: journal).snapshots().isEmpty, "nothing stored")
    }

    @Test func compactKeepsTheRowsARestartRebuildsTheBarsBeingBuiltFromUnlessAllowed() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let archive = dir.path("archive.sqlite")
        let state = try await journalWithEvents(journal)
        _ = try Journal.writeSnapshot(journalAt: journal, seq: state.lastSeq, format: 2, data: state.serialized())
        // Every row is from the last few seconds: all of them are in the 15 minutes a restart reads.
        let compact = ["compact", "--journal", journal, "--before-seq", "\(state.lastSeq)", "--archive", archive]
        let refused = try await journalCLI(compact)
        #expect(refused.status == 2, "\(refused)")
        #expect(
            refused.stderr.contains(
                "--before-seq \(state.lastSeq) would archive rows of the last 15 minutes before the journal's last event (seq 1 on)"),
            "\(refused.stderr)")
        #expect(refused.stderr.contains("use --before-seq 1 or lower, or --allow-recent"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: archive), "nothing was archived")
        #expect(try JournalReader(path: journal).first()?.seq == 1)

        let allowed = try await journalCLI(compact + ["--allow-recent"])
        #expect(allowed.status == 0, "\(allowed)")
        #expect(try JournalReader(path: journal).first()?.seq == state.lastSeq)
    }

    /// A journal of 4 events compacted twice: seq 1 in `a1`, seqs 2-3 in `a2`, seq 4 left in the journal.
    private func journalCompactedTwice(_ dir: TemporaryDirectory) async throws -> (journal: String, a1: String, a2: String) {
        let journal = dir.path("j.sqlite"), a1 = dir.path("a1.sqlite"), a2 = dir.path("a2.sqlite")
        let state = try await journalWithEvents(journal)
        try #require(state.lastSeq == 4)
        _ = try Journal.writeSnapshot(journalAt: journal, seq: state.lastSeq, format: 2, data: state.serialized())
        for (before, archive) in [(2, a1), (4, a2)] {
            let compacted = try await journalCLI(["compact", "--journal", journal, "--before-seq", "\(before)", "--archive", archive, "--allow-recent"])
            try #require(compacted.status == 0, "\(compacted)")
        }
        return (journal, a1, a2)
    }

    @Test func archivesThatDoNotFollowOnOneAnotherAreRefusedNotReadAsAShorterHistory() async throws {
        let dir = try TemporaryDirectory()
        let (journal, a1, a2) = try await journalCompactedTwice(dir)
        let other = try TemporaryDirectory()
        let (_, otherA1, _) = try await journalCompactedTwice(other)

        let cases: [(arguments: [String], error: String)] = [
            // The archive holding seq 1 is not given: before, the state at seq 0 came out.
            (["replay", "--journal", journal, "--archive", a2, "--until-seq", "1"], "seq 1 is not in \(a2)"),
            (["replay", "--journal", journal, "--archive", a2, "--archive", a1], "give the archives oldest first"),
            (["events", "--journal", journal, "--archive", a2, "--archive", a1], "give the archives oldest first"),
            (["events", "--journal", journal, "--archive", a1], "seqs 2...3 are in neither \(a1) nor \(journal)"),
            (["replay", "--journal", journal, "--archive", otherA1, "--archive", a2], "\(a2) does not continue \(otherA1)"),
            (["snapshot", "--journal", journal, "--archive", otherA1, "--archive", a2], "\(a2) does not continue \(otherA1)"),
            (["events", "--journal", journal, "--from-seq", "2"], "--from-seq 2 is before the first row of \(journal)"),
        ]
        for (arguments, error) in cases {
            let result = try await journalCLI(arguments)
            #expect(result.status == 2 && result.stderr.contains(error), "\(arguments): \(result)")
            #expect(result.stdout.isEmpty, "\(arguments): \(result.stdout)")
        }
        let whole = try await journalCLI(["events", "--journal", journal, "--archive", a1, "--archive", a2])
        #expect(whole.status == 0 && whole.jsonLines.compactMap { $0["seq"] as? Int } == [1, 2, 3, 4], "\(whole)")
        let early = try await journalCLI(["replay", "--journal", journal, "--archive", a1, "--archive", a2, "--until-seq", "1", "--json"])
        #expect(early.status == 0 && early.json["last_seq"] as? Int == 1, "\(early)")
    }

    @Test func aCompactedJournalWithoutAUsableSnapshotGetsOneFromItsArchivesAndServeExits2Until() async throws {
        let dir = try TemporaryDirectory()
        let (journal, a1, a2) = try await journalCompactedTwice(dir)
        try rawSQL(journal, "UPDATE snapshots SET data = X'00'")

        let refused = try await journalCLI(["snapshot", "--journal", journal])
        #expect(refused.status == 2 && refused.stderr.contains("brokerd journal snapshot --journal JOURNAL --archive ARCHIVE"), "\(refused)")
        // A restart cannot fix this: exit 2, which the systemd unit does not restart.
        let serve = try await serveUntilItStops(journal, in: dir)
        #expect(serve.status == 2, "\(serve.status) \(serve.stderr.suffix(600))")

        let rebuilt = try await journalCLI(["snapshot", "--journal", journal, "--archive", a1, "--archive", a2])
        #expect(rebuilt.status == 0 && rebuilt.stdout.hasPrefix("snapshot at seq 4"), "\(rebuilt)")
        let broker = try await BrokerProcess(journal: journal)
        #expect(try await liveSeq(broker) >= 4)
        #expect(await broker.terminate() == 0)
    }

    /// A directory named as the journal: one line saying so and exit 2 (the systemd unit does not
    /// restart), not a lock refusal about hard links with exit 1 and a restart every 2 s.
    /// The read-only tools read a stopped broker's journal in a directory they may not write (SQLite
    /// could not make the shared memory file a WAL journal needs): a backup, read-only media,
    /// another user's journal. Run as nobody when the tests run as root (root writes anywhere).
    @Test func theReadOnlyToolsReadAStoppedJournalInADirectoryTheyCannotWrite() async throws {
        let dir = try TemporaryDirectory()
        let data = dir.path("data")
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: false)
        let journal = data + "/journal.sqlite"
        let state = try await journalWithEvents(journal, ticks: 1_500)
        try #require(!FileManager.default.fileExists(atPath: journal + "-wal"), "closed: no write-ahead log")
        // The lock file holds the pid of the last process that appended, one that has ended.
        let ended = try Process.run(URL(fileURLWithPath: "/bin/true"), arguments: [])
        await ended.ended()
        try Data("\(ended.processIdentifier)\n".utf8).write(to: URL(fileURLWithPath: journal + ".lock"))
        let binary = dir.path("brokerd")
        try FileManager.default.copyItem(atPath: productsDirectory().appendingPathComponent("brokerd").path, toPath: binary)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir.url.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: journal)
        try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: data)
        defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: data) }
        func readOnly(_ arguments: [String]) async throws -> CommandResult {
            if getuid() == 0 {
                return try await runCommand(
                    URL(fileURLWithPath: "/usr/bin/setpriv"),
                    ["--reuid=65534", "--regid=65534", "--clear-groups", binary, "journal"] + arguments + ["--journal", journal])
            }
            return try await runCommand(URL(fileURLWithPath: binary), ["journal"] + arguments + ["--journal", journal])
        }

        // A broker starting meanwhile would rewrite the file under a reader that reads it without
        // locks: while one reads (here stalled on a full stdout pipe), serve refuses the journal.
        let stalled = Process()
        stalled.executableURL = URL(fileURLWithPath: getuid() == 0 ? "/usr/bin/setpriv" : binary)
        stalled.arguments = (getuid() == 0 ? ["--reuid=65534", "--regid=65534", "--clear-groups", binary] : [])
            + ["journal", "events", "--journal", journal]
        let unread = Pipe()
        stalled.standardOutput = unread
        try stalled.run()
        defer { if stalled.isAlive { kill(stalled.processIdentifier, SIGKILL) } }
        try await Task.sleep(for: .milliseconds(500))
        #expect(stalled.isAlive, "stalled on its output")
        do {
            let broker = try await BrokerProcess(journal: journal)
            Issue.record("a broker started under the reader")
            await broker.terminate()
        } catch BrokerProcessError.exited(let log) {
            #expect(log.contains("is in use by another brokerd, or by a `brokerd journal` command reading it"), "\(log)")
        }
        kill(stalled.processIdentifier, SIGKILL)
        await stalled.ended()

        let verify = try await readOnly(["verify"])
        #expect(verify.status == 0, "\(verify)")
        let replay = try await readOnly(["replay", "--json"])
        #expect(replay.status == 0 && replay.json["last_seq"] as? Int == Int(state.lastSeq), "\(replay)")
        let events = try await readOnly(["events"])
        #expect(events.status == 0 && events.jsonLines.count == Int(state.lastSeq), "\(events)")
        let stats = try await readOnly(["stats"])
        #expect(stats.status == 0, "\(stats)")
        #expect(!FileManager.default.fileExists(atPath: journal + "-shm"))
    }

    /// A broker that journaled nothing for a while before it crashed: its clients' disconnects
    /// are dated by the sign of life it records every 5 s, not by its last event.
    @Test func aQuietBrokersCrashIsDatedByItsLastSignOfLife() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        var broker = try await BrokerProcess(journal: journal)
        let (socket, _) = try await connect(broker)
        try await Task.sleep(for: .milliseconds(6_500))
        let killedAt = WallClock.microsecondsNow()
        await broker.kill9()
        await socket.close()
        broker = try await BrokerProcess(journal: journal)
        #expect(await broker.terminate() == 0)

        let events = try await journalCLI(["events", "--journal", journal]).jsonLines
        let connected = try #require(events.first { $0["kind"] as? String == "client_connected" })
        let disconnected = try #require(events.first { $0["kind"] as? String == "client_disconnected" })
        #expect((disconnected["payload"] as? [String: Any])?["reason"] as? String == "broker_restart")
        let connectedAt = try #require(ISOTimestamp.parse(connected["ts"] as? String ?? ""))
        let disconnectedAt = try #require(ISOTimestamp.parse(disconnected["ts"] as? String ?? ""))
        // The sign of life recorded 5 s after the start: after the connect, before the kill.
        #expect(disconnectedAt > connectedAt + 2_000_000 && disconnectedAt < killedAt, "\(connected) \(disconnected) \(killedAt)")
        _ = dir
    }

    @Test func serveNamedADirectoryAsItsJournalSaysSoAndExits2() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("journal.sqlite")
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: false)
        let serve = try await serveUntilItStops(journal, in: dir)
        #expect(serve.status == 2, "\(serve.status) \(serve.stderr.suffix(600))")
        #expect(serve.stderr.contains("is not a brokerd journal: it is a directory"), "\(serve.stderr.suffix(600))")
        #expect(!serve.stderr.contains("hard links"))
    }

    @Test func compactAcceptsAFormat1SnapshotAndRefusesANewerFormatSayingSo() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let archive = dir.path("archive.sqlite")
        let state = try await journalWithEvents(journal)
        let seq = state.lastSeq
        let compact = ["compact", "--journal", journal, "--before-seq", "\(seq)", "--archive", archive, "--allow-recent"]

        let newerFormat = Int64(Projection.formatVersion) + 1
        _ = try Journal.writeSnapshot(journalAt: journal, seq: seq, format: newerFormat, data: state.serialized())
        let newer = try await journalCLI(compact)
        #expect(newer.status == 2)
        #expect(
            newer.stderr.contains("snapshot \(seq): format \(newerFormat) is newer than this build reads formats 1...\(Projection.formatVersion)"),
            "\(newer.stderr)")
        #expect(!FileManager.default.fileExists(atPath: archive))

        // Stored again at the same seq, as format 1: it replaces the newer one.
        _ = try Journal.writeSnapshot(journalAt: journal, seq: seq, format: 1, data: formatOneSnapshot(of: state))
        let compacted = try await journalCLI(compact)
        #expect(compacted.status == 0, "\(compacted.stderr)")
        #expect(compacted.stdout.contains("start-up recovers from the snapshot at seq \(seq)"), "\(compacted.stdout)")

        let broker = try await BrokerProcess(journal: journal)
        #expect(broker.logText.contains("snapshot=\(seq) "), "\(broker.logText)")
        let (_, signals) = try await HTTP.request("GET", broker.baseURL + "/api/signals/buy?strategy=volume_wave")
        #expect(signals["count"] as? Int == 1)
        #expect(await broker.terminate() == 0)
        _ = dir
    }

    /// A copy of `journal` changed with raw SQL, as someone editing it behind brokerd's back would.
    private func editedCopy(of journal: String, in dir: TemporaryDirectory, _ name: String, _ sql: String) throws -> String {
        let path = dir.path(name)
        try FileManager.default.copyItem(atPath: journal, toPath: path)
        try rawSQL(path, sql)
        return path
    }

    @Test func valuesBrokerdNeverWritesGiveAClearAnswerNeverACrash() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        _ = try await journalWithEvents(journal)

        let negativeSeq = try editedCopy(of: journal, in: dir, "seq.sqlite", "UPDATE events SET seq = -2 WHERE seq = 2")
        let verify = try await journalCLI(["verify", "--journal", negativeSeq])
        #expect(verify.status == 1 && verify.stdout.hasPrefix("FAIL: first bad seq 1 in \(negativeSeq): row seq -2 is out of order"), "\(verify)")
        let stats = try await journalCLI(["stats", "--journal", negativeSeq])
        #expect(stats.status == 2 && stats.stderr.hasPrefix("brokerd: the file holds a row with seq -2, which brokerd never writes"), "\(stats)")
        let replay = try await journalCLI(["replay", "--journal", negativeSeq])
        #expect(replay.status == 2 && replay.stderr.contains("seq 2 is missing"), "\(replay)")

        let negativeHead = try editedCopy(of: journal, in: dir, "head.sqlite", "UPDATE meta SET value = -1 WHERE key = 'head_seq'")
        let head = try await journalCLI(["verify", "--journal", negativeHead])
        #expect(head.status == 1 && head.stdout.contains("head_seq -1 in its meta table, which brokerd never writes"), "\(head)")

        let negativeSnapshot = try editedCopy(
            of: journal, in: dir, "snapshot.sqlite", "INSERT INTO snapshots VALUES (-1, 0, 2, zeroblob(32), X'00')")
        let listed = try await journalCLI(["stats", "--journal", negativeSnapshot])
        #expect(listed.status == 0 && listed.stdout.contains("seq -1  INVALID SEQ"), "\(listed)")
        #expect(try await journalCLI(["stats", "--journal", negativeSnapshot, "--json"]).json["invalid_snapshot_seqs"] as? [Int] == [-1])
        let replayed = try await journalCLI(["replay", "--journal", negativeSnapshot, "--json"])
        #expect(replayed.status == 0 && replayed.stderr.contains("a negative seq, which brokerd never writes"), "\(replayed)")

        let earliest = try editedCopy(of: journal, in: dir, "ts.sqlite", "UPDATE events SET ts = \(Int64.min) WHERE seq = 1")
        let span = try await journalCLI(["stats", "--journal", earliest])
        #expect(span.status == 0 && span.stdout.contains("time span   \(Int64.min) ... "), "\(span)")
        let events = try await journalCLI(["events", "--journal", earliest])
        #expect(events.status == 0 && events.jsonLines.first?["ts"] as? String == "\(Int64.min)", "\(events)")
        let timed = try await journalCLI(["verify", "--journal", earliest])
        #expect(timed.status == 1 && timed.stdout.hasPrefix("FAIL: first bad seq 1 "), "\(timed)")
        _ = dir
    }

    /// A row edited into another valid event (the first tick's payload on the last tick's row)
    /// decodes and applies; only the hash chain tells. A replay and start-up build the journal's
    /// state or none, naming the seq `journal verify` names.
    @Test func replayAndServeRefuseARowEditedIntoAnotherValidEventAtTheSeqVerifyNames() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let state = try await journalWithEvents(journal)
        let last = state.lastSeq
        let edited = try editedCopy(
            of: journal, in: dir, "edited.sqlite", "UPDATE events SET payload = (SELECT payload FROM events WHERE seq = 2) WHERE seq = \(last)")

        let verify = try await journalCLI(["verify", "--journal", edited])
        #expect(verify.status == 1 && verify.stdout.hasPrefix("FAIL: first bad seq \(last) "), "\(verify)")
        let replay = try await journalCLI(["replay", "--journal", edited, "--json"])
        #expect(replay.status == 2 && replay.stderr.hasPrefix("brokerd: row seq \(last) in \(edited) does not chain"), "\(replay)")
        #expect(replay.stdout.isEmpty, "no state printed: \(replay.stdout)")
        let before = try await journalCLI(["replay", "--journal", edited, "--until-seq", "\(last - 1)", "--json"])
        #expect(before.status == 0 && price(before.json, "600519") == 11, "the state before the edited row is the journal's: \(before)")
        // A restart cannot fix it: exit 2, which the systemd unit does not restart.
        let serve = try await serveUntilItStops(edited, in: dir)
        #expect(serve.status == 2, "\(serve.status) \(serve.stderr.suffix(600))")
        #expect(serve.stderr.contains("row seq \(last) in \(edited) does not chain to the row before it"), "\(serve.stderr.suffix(600))")
    }

    @Test func aSecondServeOnAJournalInUseRefusesToStartAndTheFirstGoesOn() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let first = try await BrokerProcess(journal: journal)
        let socket = TestWebSocket(url: first.webSocketURL)
        let clientID = try #require(try await socket.receive()?["client_id"] as? String)
        do {
            let second = try await BrokerProcess(journal: journal)
            Issue.record("a second broker started on the same journal")
            await second.terminate()
        } catch BrokerProcessError.exited(let log) {
            #expect(log.contains("\(journal) is in use by another brokerd (pid \(first.process.processIdentifier))"), "\(log)")
            // Refused before it listened: no server started and stopped around the one line.
            #expect(!log.contains("listening") && !log.contains("HummingbirdCore"), "\(log)")
        }
        // The first one's appends still work, and its client was not declared gone by the second.
        let tick = #"{"ticks":[{"code":"600519","price":12.5,"volume":1}]}"#
        #expect(try await HTTP.request("POST", first.baseURL + "/api/ticks", body: tick).0 == 200)
        let (_, clients) = try await HTTP.request("GET", first.baseURL + "/api/websocket/clients")
        #expect((clients["clients"] as? [[String: Any]] ?? []).contains { $0["client_id"] as? String == clientID })
        await socket.close()
        #expect(await first.terminate() == 0)
        // Nothing of the second broker's start-up was journaled: it would have ended the first one's
        // session with `broker_restart`.
        let disconnects = try JournalReader(path: journal).records(JournalQuery(kinds: [EventKind.clientDisconnected.rawValue]))
        while let record = try disconnects.next() {
            guard case .clientDisconnected(let payload) = try EventCodec.decode(kind: record.kind, payload: record.payload) else { continue }
            #expect(payload.reason != .brokerRestart)
        }
        _ = dir
    }

    @Test func serveRefusesAJournalWhoseLastRowHasATimestampBrokerdNeverWrites() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let state = try await journalWithEvents(journal)
        try rawSQL(journal, "UPDATE events SET ts = \(Int64.min) WHERE seq = \(state.lastSeq)")

        do {
            let broker = try await BrokerProcess(journal: journal)
            Issue.record("the broker started")
            await broker.terminate()
        } catch BrokerProcessError.exited(let log) {
            #expect(log.contains("its last row (seq \(state.lastSeq)) has timestamp \(Int64.min), outside the years 0001–9999"), "\(log)")
        }
        _ = dir
    }

    @Test func verifyNamesTheFirstSeqOnADamagedPageWithExitCode1() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let opened = try Journal.open(path: journal)
        for batch in 0..<40 {
            _ = try await opened.append(contentsOf: (0..<100).map {
                NewRecord(kind: 1, key: "client_\($0 % 7)", payload: Array("event-\(batch * 100 + $0)".utf8))
            })
        }
        opened.close()
        try damageOnePage(ofDatabaseAt: journal)
        let lastReadable = try #require(lastSeqReadBeforeAnError(journal))

        let verify = try await journalCLI(["verify", "--journal", journal])

        #expect(verify.status == 1, "\(verify)")
        #expect(verify.stdout.hasPrefix("FAIL: first bad seq \(lastReadable + 1) in \(journal): the file cannot be read from here on"), "\(verify)")
        _ = dir
    }

    @Test func aFailedCompactionOrSnapshotSaysWhatFailedNotThatAnAppendWasRefused() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let archive = dir.path("archive.sqlite")
        let state = try await journalWithEvents(journal)
        _ = try Journal.writeSnapshot(journalAt: journal, seq: state.lastSeq, format: 2, data: state.serialized())
        let compact = ["compact", "--journal", journal, "--before-seq", "\(state.lastSeq)", "--archive", archive, "--allow-recent"]

        try rawSQL(journal, "CREATE TRIGGER interrupt BEFORE DELETE ON events BEGIN SELECT RAISE(ABORT, 'the disk went away'); END")
        let failed = try await journalCLI(compact)
        #expect(failed.status == 2)
        #expect(failed.stderr.hasPrefix("brokerd: compaction stopped: the disk went away; no row was lost"), "\(failed.stderr)")
        #expect(!failed.stderr.contains("append"))
        try rawSQL(journal, "DROP TRIGGER interrupt")
        #expect(try await journalCLI(compact).status == 0)

        try rawSQL(journal, "CREATE TRIGGER refuse BEFORE INSERT ON snapshots BEGIN SELECT RAISE(ABORT, 'no room for it'); END")
        let snapshot = try await journalCLI(["snapshot", "--journal", journal])
        #expect(snapshot.status == 2)
        #expect(snapshot.stderr == "brokerd: snapshot not stored: no room for it\n", "\(snapshot.stderr)")
        _ = dir
    }

    /// True when `strace` is installed and may trace a child here (containers may forbid ptrace).
    static let straceWorks: Bool = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/strace")
        process.arguments = ["-o", "/dev/null", "/bin/true"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        return process.endedBlocking() == 0
    }()

    @Test(.enabled(if: straceWorks, "needs strace"))
    func compactingIntoAnExistingArchiveSyncsItsDirectoryBeforeDeletingFromTheJournal() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let archive = dir.path("archive.sqlite")
        let state = try await journalWithEvents(journal)
        _ = try Journal.writeSnapshot(journalAt: journal, seq: state.lastSeq, format: 2, data: state.serialized())
        #expect(try await journalCLI(["compact", "--journal", journal, "--before-seq", "2", "--archive", archive, "--allow-recent"]).status == 0)

        // The second run appends to the archive it finds; every file system call it makes is traced.
        let trace = dir.path("trace")
        let traced = try await runCommand(URL(fileURLWithPath: "/usr/bin/strace"), [
            "-f", "-y", "-e", "trace=unlink,unlinkat,fsync,fdatasync,pwrite64", "-o", trace,
            productsDirectory().appendingPathComponent("brokerd").path,
            "journal", "compact", "--journal", journal, "--before-seq", "\(state.lastSeq)", "--archive", archive, "--allow-recent",
        ])
        #expect(traced.status == 0, "\(traced.stderr)")

        // The archive commits by unlinking its rollback journal; a power loss can undo that unlink
        // until the directory is synced, so the sync must come before the first write of the delete.
        let calls = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n").map(String.init)
        let firstDelete = try #require(calls.firstIndex { $0.contains("pwrite64(") && $0.contains("\(journal)-wal>") }, "\(calls)")
        let commit = try #require(
            calls[..<firstDelete].lastIndex { $0.contains("unlink") && $0.contains("\"\(archive)-journal\"") }, "\(calls)")
        let directorySync = calls[commit..<firstDelete].contains {
            ($0.contains("fsync(") || $0.contains("fdatasync(")) && $0.contains("<\(dir.url.path)>)")
        }
        #expect(directorySync, "no fsync of \(dir.url.path) between the archive's commit and the journal's delete: \(calls[commit..<firstDelete])")
        _ = dir
    }

    @Test func badInputIsOneLineOnStderrAndExitCode2() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let opened = try Journal.open(path: journal)
        let store = try EventStore(journal: opened)
        try await store.execute(.replaceSignals(strategy: "volume_wave", signals: [Signal(code: "600519", name: "Maotai")]))
        try await store.execute(.ingestTicks([FedTick(code: "600519", name: "M", price: 10, volume: 1, prevClose: 9, timestamp: 0)]))
        opened.close()
        let text = dir.path("notes.txt")
        try "not a journal".write(toFile: text, atomically: true, encoding: .utf8)

        let cases: [([String], String)] = [
            (["replay", "--journal", dir.path("missing.sqlite")], "no journal at"),
            (["events", "--journal", text], "is not a brokerd journal"),
            (["stats", "--journal", dir.url.path], "is a directory"),
            (["replay", "--journal", journal, "--until", "yesterday"], "is not a time"),
            (["replay", "--journal", journal, "--until", "2026-11-23T14:00:00"], "is not a time"),
            (["events", "--journal", journal, "--from", "2026-13-01T00:00:00Z"], "is not a time"),
            (["replay", "--journal", journal, "--until", "1796432730"], "--until 1796432730 is before 2000 in microseconds"),
            (["events", "--journal", journal, "--from", "1796432730000"], "--from 1796432730000 is before 2000 in microseconds"),
            (["events", "--journal", journal, "--from", "2026-12-05T01:05:31Z", "--to", "2026-12-05T01:05:30Z"], "is after --to"),
            (["events", "--journal", journal, "--kind", "price_tick"], "unknown event kind 'price_tick'"),
            (["events", "--journal", journal, "--kind", "99"], "unknown event kind"),
            (["events", "--journal", journal, "--limit", "ten"], "--limit ten is not a count"),
            // A negative number is the option's value, refused as such (not "missing value", exit 64).
            (["events", "--journal", journal, "--limit", "-1"], "--limit -1 is not a count"),
            (["replay", "--journal", journal, "--until-seq", "-1"], "--until-seq -1 is not a seq"),
            (["events", "--journal", journal, "--from-seq", "-5"], "--from-seq -5 is not a seq"),
            (["events", "--journal", journal, "--to", "-1"], "--to -1 is before 2000 in microseconds"),
            (["compact", "--journal", journal, "--before-seq", "-2", "--archive", dir.path("a.sqlite")], "--before-seq -2 is not a seq"),
            (["replay", "--journal", journal, "--until-seq", "1", "--until", "2026-11-23T14:00:00Z"], "not both"),
            (["replay", "--journal", journal, "--until-seq", "99"], "after the journal's last seq 2"),
            (["compact", "--journal", journal, "--before-seq", "2", "--archive", dir.path("a.sqlite"), "--allow-recent"], "no usable snapshot"),
            (["compact", "--journal", journal, "--before-seq", "0", "--archive", dir.path("a.sqlite")], "out of range"),
            (["compact", "--journal", journal, "--archive", dir.path("a.sqlite")], "--before-seq N is required"),
            (["compact", "--journal", journal, "--before-seq", "2"], "--archive FILE is required"),
            (["snapshot", "--journal", text], "is not a brokerd journal"),
        ]
        for (arguments, message) in cases {
            let result = try await journalCLI(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stdout.isEmpty, "\(arguments)")
            #expect(result.stderr.hasPrefix("brokerd: ") && result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.filter { $0 == "\n" }.count == 1, "\(arguments): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.path("a.sqlite")))
        #expect(try await journalCLI(["verify", "--journal", journal]).status == 0)
        // An option of names is never given the next option as its value.
        let noClient = try await journalCLI(["events", "--journal", journal, "--client", "--json"])
        #expect(noClient.status != 0 && noClient.stdout.isEmpty, "\(noClient)")
        let noArchive = try await journalCLI(["compact", "--journal", journal, "--before-seq", "2", "--archive", "--allow-recent"])
        #expect(noArchive.status != 0 && !FileManager.default.fileExists(atPath: "--allow-recent"), "\(noArchive)")

        try rawSQL(journal, "UPDATE events SET payload = X'00' WHERE seq = 2")
        let tampered = try await journalCLI(["verify", "--journal", journal])
        #expect(tampered.status == 1 && tampered.stdout.hasPrefix("FAIL: first bad seq 2"))
        _ = dir
    }
}
