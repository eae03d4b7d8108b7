import Broker
import Foundation
import Journal
import Publishers
import Testing
import TestSupport

/// Two brokerd nodes with their own journals sharing ticks, news, alert rules, signal lists and
/// k-line bars through a real redis-server, behind a real nginx: whatever is ingested on one node reaches every node's
/// clients exactly once and is journaled exactly once on each node.
@Suite(.serialized) struct MultiNodeTests {
    private struct Node {
        let id: String
        let broker: BrokerProcess
    }

    private func startNode(_ id: String, redis: RedisProcess, in dir: TemporaryDirectory, _ extra: [String] = []) async throws -> Node {
        let broker = try await BrokerProcess(
            journal: dir.path("\(id).sqlite"),
            arguments: ["--node-id", id, "--redis-url", redis.url, "--trusted-proxies", "127.0.0.1"] + extra)
        return Node(id: id, broker: broker)
    }

    /// Nodes `node-a` and `node-b` on `redis`, both subscribed and publishing.
    private func startSharingPair(redis: RedisProcess, in dir: TemporaryDirectory) async throws -> (Node, Node) {
        let first = try await startNode("node-a", redis: redis, in: dir)
        let second = try await startNode("node-b", redis: redis, in: dir)
        try await waitUntilSharing(first)
        try await waitUntilSharing(second)
        return (first, second)
    }

    private func stats(_ node: Node) async throws -> [String: Any] {
        let (status, body) = try await HTTP.request("GET", node.broker.baseURL + "/api/websocket/stats")
        #expect(status == 200)
        return body
    }

    /// Polls until `condition` holds for the node's stats; fails after a generous deadline.
    private func waitForStats(_ node: Node, _ what: String, _ condition: ([String: Any]) -> Bool) async throws {
        for _ in 0..<400 {
            if condition(try await stats(node)) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("gave up waiting for \(node.id): \(what); stats: \(try await stats(node))")
        throw MultiNodeTestError.timeout(what)
    }

    /// Both directions of Redis are up on the node: its subscription and its outbound publisher.
    private func waitUntilSharing(_ node: Node) async throws {
        try await waitForStats(node, "Redis subscribed and publishing") { stats in
            (stats["redis"] as? [String: Any])?["state"] as? String == "connected"
                && (stats["redis_outbound"] as? [String: Any])?["state"] as? String == "connected"
        }
    }

    private func post(_ url: String, _ path: String, _ body: String) async throws {
        let (status, reply) = try await HTTP.request("POST", url + path, body: body)
        #expect(status == 200 || status == 201, "POST \(path): \(reply)")
    }

    private func tick(_ code: String, _ price: Double) -> String {
        #"{"ticks":[{"code":"\#(code)","name":"Stock \#(code)","price":\#(price),"volume":100,"prev_close":10}]}"#
    }

    private func connect(_ url: String, subscribing subscriptions: [(String, String)]) async throws -> (TestWebSocket, String) {
        let socket = TestWebSocket(url: url)
        let connected = try #require(try await socket.receive())
        let clientID = try #require(connected["client_id"] as? String)
        for (type, target) in subscriptions {
            try socket.send(["type": "subscribe", "subscription_type": type, "target": target])
            #expect(try await socket.receive(type: "subscribed") != nil)
        }
        // A ping answered means every snapshot of the subscriptions is in.
        try socket.send(["type": "ping"])
        _ = try await socket.receive(type: "pong")
        return (socket, clientID)
    }

    /// One pushed item as a client saw it: the message's seq and its price or news id.
    private struct Seen: Hashable {
        let type: String
        let seq: Int
        let key: String
    }

    /// Receives until `done` is seen, then pings and receives up to the pong, so everything the
    /// node sent before the pong is counted too; returns every price and news item seen.
    private func collect(_ socket: TestWebSocket, until done: Seen) async throws -> [Seen] {
        var seen: [Seen] = []
        func take(_ message: [String: Any]) {
            let seq = message["seq"] as? Int ?? -1
            switch message["type"] as? String {
            case "price_update":
                for entry in (message["data"] as? [[String: Any]]) ?? [] {
                    let price = (entry["price"] as? Double).map { String($0) } ?? "?"
                    seen.append(Seen(type: "price", seq: seq, key: "\(entry["code"] as? String ?? "?")@\(price)"))
                }
            case "news_update":
                seen.append(Seen(type: "news", seq: seq, key: ((message["data"] as? [String: Any])?["id"] as? String) ?? ""))
            default:
                break
            }
        }
        while !seen.contains(where: { $0.type == done.type && $0.key == done.key }) {
            take(try #require(try await socket.receive()))
        }
        try socket.send(["type": "ping"])
        while let message = try await socket.receive(), message["type"] as? String != "pong" { take(message) }
        return seen
    }

    private func waitFor(_ socket: TestWebSocket, _ type: String, key: String) async throws {
        _ = try await collect(socket, until: Seen(type: type, seq: 0, key: key))
    }

    /// What each client saw so far, by name.
    private final class History {
        var seen: [String: [Seen]] = [:]
    }

    /// Waits until every client got `key` and records what each saw meanwhile.
    private func expectEverywhere(
        _ type: String, _ key: String, clients: [(String, TestWebSocket)], history: History
    ) async throws {
        for (name, socket) in clients {
            history.seen[name, default: []] += try await collect(socket, until: Seen(type: type, seq: 0, key: key))
        }
    }

    private func prices(in journal: String) throws -> [Double] {
        try journaledEvents(journal, kinds: [.priceTicked]).compactMap { if case .priceTicked(let tick) = $0 { tick.price } else { nil } }
    }

    private func newsIDs(in journal: String) throws -> [String] {
        try journaledEvents(journal, kinds: [.newsPublished]).compactMap { if case .newsPublished(let item) = $0 { item.id } else { nil } }
    }

    private func alertRuleChanges(in journal: String) throws -> [String] {
        try journaledEvents(journal, kinds: [.alertRuleSet, .alertRuleRemoved]).compactMap {
            switch $0 {
            case .alertRuleSet(let rule): "set \(rule.id) \(rule.user)"
            case .alertRuleRemoved(let removed): "removed \(removed.ruleID) \(removed.user)"
            default: nil
            }
        }
    }

    @Test func whatOneNodeIngestsReachesTheOtherNodesClientsOnceAndEveryJournalOnce() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second) = try await startSharingPair(redis: redis, in: dir)
        let nginx = try await NginxProcess(upstreamPorts: [first.broker.port, second.broker.port])
        // Every Redis connection of a node says whose it is and what it does.
        let names = Set(
            try redis.cli("CLIENT", "LIST").split(separator: "\n").compactMap { line in
                line.split(separator: " ").first { $0.hasPrefix("name=") }.map { String($0.dropFirst(5)) }
            })
        for node in ["node-a", "node-b"] {
            for role in ["channel", "control", "log", "publish"] {
                #expect(names.contains("brokerd:\(node):\(role)"), "\(names.sorted())")
            }
        }

        // nginx pins the client to one node ("home"); the other node ingests.
        let subscriptions = [("stock", "600519"), ("stock", "000001"), ("news", "all")]
        let (viaNginx, viaNginxID) = try await connect(nginx.webSocketURL, subscribing: subscriptions)
        let onFirst = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients").1
        let landedOnFirst = ((onFirst["clients"] as? [[String: Any]]) ?? []).contains { $0["client_id"] as? String == viaNginxID }
        let (home, ingesting) = landedOnFirst ? (first, second) : (second, first)
        let (local, _) = try await connect(ingesting.broker.webSocketURL, subscribing: subscriptions)

        let clients = [("home client (via nginx)", viaNginx), ("ingesting node's client", local)]
        let history = History()

        // Each item waits until both clients have it, so none can overtake another on its way
        // through Redis; a duplicate would show up in the window of the item after it.
        try await post(ingesting.broker.baseURL, "/api/ticks", tick("600519", 101))
        try await expectEverywhere("price", "600519@101.0", clients: clients, history: history)
        try await post(ingesting.broker.baseURL, "/api/ticks", tick("000001", 102))
        try await expectEverywhere("price", "000001@102.0", clients: clients, history: history)
        // Through nginx: lands on the home node and must reach the other one.
        try await post(nginx.baseURL, "/api/ticks", tick("600519", 103))
        try await expectEverywhere("price", "600519@103.0", clients: clients, history: history)
        // News the same way, from either node.
        try await post(ingesting.broker.baseURL, "/api/news", #"{"id":"n-1","title":"Q3 results","category":"company"}"#)
        try await expectEverywhere("news", "n-1", clients: clients, history: history)
        try await post(home.broker.baseURL, "/api/news", #"{"id":"n-2","title":"Rates unchanged","category":"macro"}"#)
        try await expectEverywhere("news", "n-2", clients: clients, history: history)
        // A last tick closes the window in which a late duplicate of any of the above would show.
        try await post(ingesting.broker.baseURL, "/api/ticks", tick("000001", 104))
        try await expectEverywhere("price", "000001@104.0", clients: clients, history: history)

        for (name, _) in clients {
            let seen = history.seen[name] ?? []
            for key in ["600519@101.0", "000001@102.0", "600519@103.0", "n-1", "n-2", "000001@104.0"] {
                #expect(seen.filter { $0.key == key }.count == 1, "\(name): \(key) exactly once; saw \(seen)")
            }
            #expect(Set(seen).count == seen.count, "\(name): no message twice")
        }
        for node in [first, second] {
            #expect(try prices(in: node.broker.journalPath).sorted() == [101, 102, 103, 104], "\(node.id): each tick journaled once")
            #expect(try newsIDs(in: node.broker.journalPath).sorted() == ["n-1", "n-2"], "\(node.id): each news item journaled once")
        }

        // Alert rules: set and removed over HTTP on one node, set by a client on the other.
        let rule = #"{"id":"rule_http","user":"alice","code":"600519","condition":"above","threshold":1900}"#
        #expect(try await HTTP.request("POST", ingesting.broker.baseURL + "/api/alerts/rules", body: rule).0 == 201)
        #expect(try await HTTP.request("DELETE", ingesting.broker.baseURL + "/api/alerts/rules/rule_http").0 == 200)
        try viaNginx.send(["type": "set_alert", "code": "000001", "condition": "below", "threshold": 5])
        let ruleID = try #require(try await viaNginx.receive(type: "alert_set")?["rule_id"] as? String)
        let expected = ["set rule_http alice", "removed rule_http alice", "set \(ruleID) \(viaNginxID)"]
        for node in [first, second] {
            var changes: [String] = []
            for _ in 0..<200 {
                changes = try alertRuleChanges(in: node.broker.journalPath)
                if changes.count >= expected.count { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(Set(changes) == Set(expected) && changes.count == expected.count, "\(node.id): \(changes)")
        }

        // Each node shared what it ingested and recognised every echo of its own.
        for node in [first, second] {
            try await waitForStats(node, "every own message recognised") { stats in
                let published = (stats["redis_outbound"] as? [String: Any])?["published"] as? Int
                return published != nil && (stats["redis"] as? [String: Any])?["ownSkipped"] as? Int == published
            }
            let stats = try await stats(node)
            #expect(stats["node"] as? String == node.id)
            let outbound = try #require(stats["redis_outbound"] as? [String: Any])
            #expect((outbound["published"] as? Int ?? 0) >= 2 && outbound["dropped"] as? Int == 0, "\(node.id): \(outbound)")
            #expect((stats["redis"] as? [String: Any])?["nodeIDConflicts"] as? Int == 0)
            // And /metrics says the same.
            let samples = try await metricSamples(of: node.broker)
            let shared = try #require((stats["redis"] as? [String: Any])?["shared"] as? Int)
            #expect(shared >= 2 && samples.value("brokerd_redis_shared_received_total") == Double(shared), "\(node.id): \(shared)")
            #expect(samples.value("brokerd_redis_outbound_published_total") == Double(outbound["published"] as? Int ?? -1), "\(node.id)")
            #expect(samples.value("brokerd_redis_outbound_up") == 1 && samples.value("brokerd_redis_node_id_conflicts_total") == 0, "\(node.id)")
        }

        await viaNginx.close()
        await local.close()
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
        nginx.stop()
    }

    /// Polls `GET /api/signals/buy?strategy=` on `node` until it lists `codes`.
    private func waitForSignals(_ node: Node, _ strategy: String, _ codes: [String]) async throws {
        var listed: [String] = []
        for _ in 0..<200 {
            let body = try await HTTP.request("GET", node.broker.baseURL + "/api/signals/buy?strategy=\(strategy)").1
            listed = ((body["signals"] as? [[String: Any]]) ?? []).compactMap { $0["code"] as? String }
            if listed == codes { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        Issue.record("\(node.id) lists \(listed) for \(strategy), not \(codes)")
    }

    @Test func signalListsAndKlineBarsIngestedOnOneNodeReachTheOthersOnce() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second) = try await startSharingPair(redis: redis, in: dir)
        let (onSecond, _) = try await connect(second.broker.webSocketURL, subscribing: [("stock", "600519")])

        // A signal list replaced on either node becomes the other node's list.
        let signals = #"{"signals":[{"code":"600519","name":"贵州茅台"},{"code":"000001","name":"平安银行"}]}"#
        #expect(try await HTTP.request("PUT", first.broker.baseURL + "/api/signals/volume_wave", body: signals).0 == 200)
        try await waitForSignals(second, "volume_wave", ["600519", "000001"])
        #expect(try await HTTP.request("PUT", second.broker.baseURL + "/api/signals/volume_wave", body: #"{"signals":[{"code":"300750"}]}"#).0 == 200)
        try await waitForSignals(first, "volume_wave", ["300750"])

        // A bar ingested on the first node reaches the second node's stock subscriber.
        let bar = #"{"klines":[{"code":"600519","period":"1d","open":1850,"high":1870,"low":1840,"close":1866.5,"volume":9000,"start":1764000000000000,"closed":true}]}"#
        try await post(first.broker.baseURL, "/api/klines", bar)
        let update = try #require(try await onSecond.receive(type: "kline_update"))
        let data = try #require(update["data"] as? [String: Any])
        #expect(data["code"] as? String == "600519" && data["period"] as? String == "1d" && data["close"] as? Double == 1866.5)

        // Every node journaled each list and the bar exactly once.
        for node in [first, second] {
            var lists: [String] = []
            var bars: [String] = []
            for _ in 0..<200 {
                lists = try journaledEvents(node.broker.journalPath, kinds: [.signalsReplaced]).compactMap {
                    if case .signalsReplaced(let replaced) = $0 { replaced.signals.map(\.code).joined(separator: ",") } else { nil }
                }
                bars = try journaledEvents(node.broker.journalPath, kinds: [.klineUpdated]).compactMap {
                    if case .klineUpdated(let bar) = $0 { "\(bar.code) \(bar.period) \(bar.close)" } else { nil }
                }
                if lists.count >= 2 && !bars.isEmpty { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(lists == ["600519,000001", "300750"], "\(node.id): \(lists)")
            #expect(bars == ["600519 1d 1866.5"], "\(node.id): \(bars)")
        }

        await onSecond.close()
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    /// The signal lists a node journaled, each as its codes joined by commas.
    private func journaledLists(_ node: Node) throws -> [String] {
        try journaledEvents(node.broker.journalPath, kinds: [.signalsReplaced]).compactMap {
            if case .signalsReplaced(let replaced) = $0 { replaced.signals.map(\.code).joined(separator: ",") } else { nil }
        }
    }

    private func journaledBars(_ node: Node) throws -> [String] {
        try journaledEvents(node.broker.journalPath, kinds: [.klineUpdated]).compactMap {
            if case .klineUpdated(let bar) = $0 { "\(bar.code) \(bar.period) \(bar.close)" } else { nil }
        }
    }

    /// Polls until `read` of the node's journal gives at least `count` items.
    private func waitForJournal<T>(_ node: Node, count: Int, _ read: (Node) throws -> [T]) async throws -> [T] {
        var items: [T] = []
        for _ in 0..<200 {
            items = try read(node)
            if items.count >= count { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return items
    }

    @Test func aNodeThatWasDownCatchesUpOnWhatTheOthersSharedMeanwhile() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second) = try await startSharingPair(redis: redis, in: dir)
        #expect(await second.broker.terminate() == 0)

        // While the second node is down, the first takes a signal list, an alert rule, a news item and a bar.
        let signals = #"{"signals":[{"code":"600519","name":"贵州茅台"}]}"#
        #expect(try await HTTP.request("PUT", first.broker.baseURL + "/api/signals/volume_wave", body: signals).0 == 200)
        let rule = #"{"id":"rule_down","user":"alice","code":"600519","condition":"above","threshold":1900}"#
        #expect(try await HTTP.request("POST", first.broker.baseURL + "/api/alerts/rules", body: rule).0 == 201)
        try await post(first.broker.baseURL, "/api/news", #"{"id":"n-down","title":"Halted","category":"company"}"#)
        let bar = #"{"klines":[{"code":"600519","period":"1d","open":1850,"high":1870,"low":1840,"close":1866.5,"volume":9000,"start":1764000000000000,"closed":true}]}"#
        try await post(first.broker.baseURL, "/api/klines", bar)

        // Back, it reads the shared log on from where its journal left it.
        let back = try await startNode("node-b", redis: redis, in: dir)
        try await waitUntilSharing(back)
        try await waitForSignals(back, "volume_wave", ["600519"])
        let (onBack, _) = try await connect(back.broker.webSocketURL, subscribing: [("news", "all")])
        for node in [first, back] {
            #expect(try await waitForJournal(node, count: 1, { try newsIDs(in: $0.broker.journalPath) }) == ["n-down"], "\(node.id)")
            #expect(try await waitForJournal(node, count: 1, { try alertRuleChanges(in: $0.broker.journalPath) }) == ["set rule_down alice"], "\(node.id)")
            #expect(try await waitForJournal(node, count: 1, journaledBars) == ["600519 1d 1866.5"], "\(node.id)")
            #expect(try journaledLists(node) == ["600519"], "\(node.id): each once, the first node's own not again")
        }
        let log = try #require(try await stats(back)["redis"] as? [String: Any])
        #expect(log["logState"] as? String == "connected" && log["lastLogID"] as? String != nil, "\(log)")

        await onBack.close()
        #expect(await first.broker.terminate() == 0)
        #expect(await back.broker.terminate() == 0)
    }

    @Test func aNodeBackFromAStopIsReadyOnlyOnceItHasReadWhatTheOthersSharedMeanwhile() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second) = try await startSharingPair(redis: redis, in: dir)
        #expect(await second.broker.terminate() == 0)
        // 2,000 news items another node shared while the second was down, in one go.
        let script = """
            for i = 1, 2000 do
              redis.call('XADD', KEYS[1], '*', 'kind', 'news', 'message',
                '{"node":"node-z","instance":"z","news":{"id":"z-' .. i .. '","title":"item ' .. i .. '","category":"macro","published_at":1764000000000000}}')
            end
            return 2000
            """
        #expect(try redis.cli("EVAL", script, "1", "ticks:log") == "2000")

        // `BrokerProcess` returns once /readyz says ready: by then every item is in.
        let back = try await startNode("node-b", redis: redis, in: dir)
        let ids = try newsIDs(in: back.broker.journalPath)
        #expect(ids.count == 2000 && Set(ids).count == 2000, "\(ids.count) items journaled when ready")
        let log = try #require(try await stats(back)["redis"] as? [String: Any])
        #expect(log["logCaughtUp"] as? Bool == true && log["logCatchingUp"] as? Bool == false, "\(log)")

        #expect(await first.broker.terminate() == 0)
        #expect(await back.broker.terminate() == 0)
    }

    @Test func aBurstOfWritesOfOneStrategyOnOneNodeIsJournaledOnceEachOnEveryNode() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second) = try await startSharingPair(redis: redis, in: dir)
        let url = first.broker.baseURL + "/api/signals/burst"
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 1...20 {
                group.addTask { try await HTTP.request("PUT", url, body: #"{"signals":[{"code":"6050\#(10 + index)"}]}"#).0 }
            }
            for try await status in group { #expect(status == 200) }
        }
        #expect(try await HTTP.request("PUT", url, body: #"{"signals":[{"code":"600000"}]}"#).0 == 200)
        try await waitForSignals(second, "burst", ["600000"])
        // Once the first node has read its own last entry back, nothing more is coming.
        let last = try #require((try await stats(second)["redis"] as? [String: Any])?["lastLogID"] as? String)
        try await waitForStats(first, "its own entries read back") { stats in
            (stats["redis"] as? [String: Any])?["lastLogID"] as? String == last
        }
        for node in [first, second] {
            let lists = try journaledLists(node)
            #expect(lists.count == 21 && lists.last == "600000", "\(node.id): each write once, no older one again: \(lists)")
        }
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    @Test func conflictingWritesOfOneStrategyEndTheSameOnEveryNodeInTheLogsOrder() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second) = try await startSharingPair(redis: redis, in: dir)
        #expect(await second.broker.terminate() == 0)

        #expect(try await HTTP.request("PUT", first.broker.baseURL + "/api/signals/volume_wave", body: #"{"signals":[{"code":"600519"}]}"#).0 == 200)
        // The second node's own write of the same strategy, which it took before it went down and
        // which reached the log after the first node's.
        let racing = #"{"node":"node-b","instance":"0000000000000001","strategy":"volume_wave","signals":[{"code":"300750","name":"宁德时代"}]}"#
        _ = try redis.cli("XADD", "ticks:log", "*", "kind", "signals", "message", racing)
        // The log's later write wins on the first node ...
        try await waitForSignals(first, "volume_wave", ["300750"])
        // ... and on the second, which applies its own entry again because another came between.
        let back = try await startNode("node-b", redis: redis, in: dir)
        try await waitUntilSharing(back)
        try await waitForSignals(back, "volume_wave", ["300750"])
        for node in [first, back] {
            #expect(try await waitForJournal(node, count: 2, journaledLists) == ["600519", "300750"], "\(node.id)")
        }

        // A write on the node that came back reaches the other through the log; its pub/sub copy is skipped.
        #expect(try await HTTP.request("PUT", back.broker.baseURL + "/api/signals/volume_wave", body: #"{"signals":[{"code":"000001"}]}"#).0 == 200)
        try await waitForSignals(first, "volume_wave", ["000001"])
        try await waitForStats(first, "the pub/sub copy skipped") { stats in
            ((stats["redis"] as? [String: Any])?["logCopiesSkipped"] as? Int ?? 0) >= 1
        }
        for node in [first, back] {
            #expect(try await waitForJournal(node, count: 3, journaledLists) == ["600519", "300750", "000001"], "\(node.id)")
        }

        #expect(await first.broker.terminate() == 0)
        #expect(await back.broker.terminate() == 0)
    }

    @Test func oneRuleIDTakenByTwoUsersOnTwoNodesEndsAsTheLogsLaterOneEverywhere() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second) = try await startSharingPair(redis: redis, in: dir)
        #expect(await second.broker.terminate() == 0)
        let rule = #"{"id":"ry","user":"alice","code":"600519","condition":"above","threshold":1900}"#
        #expect(try await HTTP.request("POST", first.broker.baseURL + "/api/alerts/rules", body: rule).0 == 201)
        // The same id taken for bob on the second node just before it went down, later in the log.
        let bobs = #"{"node":"node-b","instance":"0000000000000001","set":{"id":"ry","user":"bob","code":"600519","condition":"below","threshold":1700}}"#
        _ = try redis.cli("XADD", "ticks:log", "*", "kind", "alerts", "message", bobs)
        let back = try await startNode("node-b", redis: redis, in: dir)
        for node in [first, back] {
            let changes = try await waitForJournal(node, count: 2) { try alertRuleChanges(in: $0.broker.journalPath) }
            #expect(changes == ["set ry alice", "set ry bob"], "\(node.id): \(changes)")
        }
        let log = try #require(try await stats(first)["redis"] as? [String: Any])
        #expect(log["deliveryFailures"] as? Int == 0, "\(log)")
        #expect(await first.broker.terminate() == 0)
        #expect(await back.broker.terminate() == 0)
    }

    @Test func whileTheLogCannotBeReadNodesShareOverPubSubAndSayWhy() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        // The log's key taken by another type: XADD and XREAD are refused with WRONGTYPE.
        #expect(try redis.cli("SET", "ticks:log", "not a stream") == "OK")
        let nodes = [try await startNode("node-a", redis: redis, in: dir), try await startNode("node-b", redis: redis, in: dir)]
        for node in nodes {
            try await waitForStats(node, "subscribed, publishing, the log backing off") { stats in
                let redis = stats["redis"] as? [String: Any]
                return redis?["channelState"] as? String == "connected" && redis?["logState"] as? String == "backingOff"
                    && (stats["redis_outbound"] as? [String: Any])?["state"] as? String == "connected"
            }
        }
        #expect(try await HTTP.request("PUT", nodes[0].broker.baseURL + "/api/signals/volume_wave", body: #"{"signals":[{"code":"600519"}]}"#).0 == 200)
        try await waitForSignals(nodes[1], "volume_wave", ["600519"])
        let outbound = try #require(try await stats(nodes[0])["redis_outbound"] as? [String: Any])
        #expect((outbound["last_error"] as? String ?? "").contains("WRONGTYPE"), "\(outbound)")
        for node in nodes { #expect(await node.broker.terminate() == 0) }
    }

    /// Redis out of memory refuses XADD and still takes PUBLISH: the copy is sent unmarked, so the
    /// other node takes it from pub/sub instead of waiting for a log entry that never comes.
    @Test func whileRedisRefusesToAppendToTheLogUpdatesStillReachTheOtherNodes() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second) = try await startSharingPair(redis: redis, in: dir)
        try await waitForStats(second, "reading the log") { ($0["redis"] as? [String: Any])?["logState"] as? String == "connected" }
        #expect(try redis.cli("CONFIG", "SET", "maxmemory", "1").contains("OK"))
        #expect(try await HTTP.request("PUT", first.broker.baseURL + "/api/signals/volume_wave", body: #"{"signals":[{"code":"600519"}]}"#).0 == 200)
        try await waitForSignals(second, "volume_wave", ["600519"])
        let outbound = try #require(try await stats(first)["redis_outbound"] as? [String: Any])
        #expect(outbound["not_logged"] as? Int == 1 && outbound["dropped"] as? Int == 0, "\(outbound)")
        #expect((outbound["last_error"] as? String ?? "").contains("OOM"), "\(outbound)")

        // Memory back: the next write is in the log again, and its copy is skipped for the entry.
        #expect(try redis.cli("CONFIG", "SET", "maxmemory", "0").contains("OK"))
        #expect(try await HTTP.request("PUT", first.broker.baseURL + "/api/signals/volume_wave", body: #"{"signals":[{"code":"000001"}]}"#).0 == 200)
        try await waitForSignals(second, "volume_wave", ["000001"])
        #expect(try redis.cli("XLEN", "ticks:log").trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        try await waitForStats(second, "the logged copy skipped") { ($0["redis"] as? [String: Any])?["logCopiesSkipped"] as? Int == 1 }
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    @Test func withTheLogOffNodesShareOverPubSubAlone() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let nodes = [
            try await startNode("node-a", redis: redis, in: dir, ["--redis-log-length", "0"]),
            try await startNode("node-b", redis: redis, in: dir, ["--redis-log-length", "0"]),
        ]
        for node in nodes { try await waitUntilSharing(node) }
        #expect(try await HTTP.request("PUT", nodes[0].broker.baseURL + "/api/signals/volume_wave", body: #"{"signals":[{"code":"600519"}]}"#).0 == 200)
        try await waitForSignals(nodes[1], "volume_wave", ["600519"])
        #expect(try redis.cli("EXISTS", "ticks:log").trimmingCharacters(in: .whitespacesAndNewlines) == "0")
        let log = try #require(try await stats(nodes[1])["redis"] as? [String: Any])
        #expect(log["logState"] == nil && log["logCopiesSkipped"] as? Int == 0, "\(log)")
        for node in nodes { #expect(await node.broker.terminate() == 0) }
    }

    @Test func aTickThatLeavesOutFieldsIsFilledInByEachNodeFromWhatItKnows() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        // The second node knows 600519 before the first one is there to hear of it.
        let second = try await startNode("node-b", redis: redis, in: dir)
        try await waitUntilSharing(second)
        try await post(second.broker.baseURL, "/api/ticks", #"{"ticks":[{"code":"600519","name":"贵州茅台","price":1825,"volume":12345678,"prev_close":1800}]}"#)
        let first = try await startNode("node-a", redis: redis, in: dir)
        try await waitUntilSharing(first)
        // Its snapshot (before the pong `connect` waits for) is passed over.
        let (onSecond, _) = try await connect(second.broker.webSocketURL, subscribing: [("stock", "600519")])

        // The first node knows nothing of the code: it journals name = code, volume 0; the second
        // fills the same tick in from what it knows.
        try await post(first.broker.baseURL, "/api/ticks", #"{"ticks":[{"code":"600519","price":1851}]}"#)
        let update = try #require(try await onSecond.receive(type: "price_update"))
        let entry = try #require((update["data"] as? [[String: Any]])?.first)
        #expect(entry["price"] as? Double == 1851)
        #expect(entry["name"] as? String == "贵州茅台" && entry["volume"] as? Int == 12_345_678, "\(entry)")
        #expect(entry["change"] as? Double == 51, "from the prev_close the second node knew: \(entry)")

        await onSecond.close()
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    /// A write a node takes while Redis is down, the very one that finds it gone too, is held for
    /// the shared log and appended once Redis is back, so the other node gets it then; the
    /// outage's ticks stay unshared (stale prices must not come late).
    @Test func aWriteTakenWhileRedisIsDownReachesTheOtherNodesThroughTheLogOnceItIsBack() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second) = try await startSharingPair(redis: redis, in: dir)

        redis.kill()
        #expect(try await HTTP.request("PUT", first.broker.baseURL + "/api/signals/volume_wave", body: #"{"signals":[{"code":"600519"}]}"#).0 == 200)
        try await post(first.broker.baseURL, "/api/ticks", tick("600519", 201))
        try await waitForStats(first, "the list held for the log, the tick dropped") { stats in
            let outbound = stats["redis_outbound"] as? [String: Any]
            return outbound?["state"] as? String == "backingOff" && outbound?["held"] as? Int == 1
                && outbound?["dropped"] as? Int == 1
        }

        try await redis.start()
        try await waitForSignals(second, "volume_wave", ["600519"])
        try await waitForStats(first, "the held list appended") { stats in
            let outbound = stats["redis_outbound"] as? [String: Any]
            return outbound?["appended_late"] as? Int == 1 && outbound?["held"] as? Int == 0
        }
        #expect(try redis.cli("XLEN", "ticks:log") == "1")
        #expect(try prices(in: second.broker.journalPath).isEmpty)
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    @Test func withRedisDownANodeStillServesItsOwnClientsAndSharingResumesWhenRedisIsBack() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second) = try await startSharingPair(redis: redis, in: dir)
        let (onFirst, _) = try await connect(first.broker.webSocketURL, subscribing: [("stock", "600519")])
        let (onSecond, onSecondID) = try await connect(second.broker.webSocketURL, subscribing: [("stock", "600519")])

        redis.kill()
        try await post(first.broker.baseURL, "/api/ticks", tick("600519", 201))
        try await waitFor(onFirst, "price", key: "600519@201.0")
        try await waitForStats(first, "the tick counted as not shared") { stats in
            ((stats["redis_outbound"] as? [String: Any])?["dropped"] as? Int ?? 0) >= 1
        }
        // Nor can the other nodes be asked about a session: said so, rather than a 404.
        let (unreachable, unreachableBody) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients/\(onSecondID)")
        #expect(unreachable == 503 && unreachableBody["error"] as? String == "nodes_unreachable", "\(unreachableBody)")
        let (_, audience) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/subscriptions?type=stock&target=600519")
        #expect(audience["other_nodes"] as? String == "unreachable" && audience["count"] as? Int == 1, "\(audience)")
        let down = try await metricSamples(of: first.broker)
        #expect(down.value("brokerd_node_requests_total", ["kind": "find_client", "outcome": "unreachable"]) == 1)
        #expect(down.value("brokerd_node_requests_total", ["kind": "find_subscribers", "outcome": "unreachable"]) == 1)
        #expect(down.value("brokerd_node_request_seconds_count", ["kind": "find_client"]) == nil, "nothing waited for")
        #expect(down.value("brokerd_redis_outbound_up") == 0 && (down.value("brokerd_redis_outbound_dropped_total") ?? 0) >= 1)

        try await redis.start()
        try await waitUntilSharing(first)
        try await waitUntilSharing(second)
        try await post(first.broker.baseURL, "/api/ticks", tick("600519", 202))
        let seen = try await collect(onSecond, until: Seen(type: "price", seq: 0, key: "600519@202.0"))
        #expect(!seen.contains { $0.key == "600519@201.0" }, "what could not be shared is not sent late")
        #expect(try prices(in: first.broker.journalPath) == [201, 202])
        #expect(try prices(in: second.broker.journalPath) == [202])
        let outbound = try #require(try await stats(first)["redis_outbound"] as? [String: Any])
        #expect(outbound["outages"] as? Int == 1)
        let back = try await metricSamples(of: first.broker)
        #expect(back.value("brokerd_redis_outbound_up") == 1 && back.value("brokerd_redis_outbound_outages_total") == 1)
        #expect((back.value("brokerd_redis_outbound_published_total") ?? 0) >= 1)

        await onFirst.close()
        await onSecond.close()
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    /// A node whose list is larger than one message carries (1 MiB: here one client following
    /// 6,000 strategies with long Chinese names, some 1.2 MiB of connections and 1.4 MiB of
    /// subscriptions) sends it in parts, which the node asked joins: every connection and every
    /// subscription of every node, no node named in `errors`.
    @Test func aListLargerThanOneMessageComesInPartsAndIsJoined() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let roomy = ["--max-subscriptions-per-client", "10000", "--max-frame-bytes", "1048576", "--outbound-queue", "20000"]
        let first = try await startNode("node-a", redis: redis, in: dir)
        let second = try await startNode("node-b", redis: redis, in: dir, roomy)
        // A third node, not asked, reads the answers too: it skips them undecoded.
        let third = try await startNode("node-c", redis: redis, in: dir)
        for node in [first, second, third] { try await waitUntilSharing(node) }
        try await waitUntilKnown(first, knows: second)
        try await waitUntilKnown(first, knows: third)
        let (socket, clientID) = try await connect(second.broker.webSocketURL, subscribing: [])
        // 64 characters, all but the 6 digits 3 bytes long in UTF-8: cut anywhere, a piece would
        // most likely end inside one.
        let targets = (0..<6_000).map { String(repeating: "策", count: 58) + String(format: "%06d", $0) }
        for start in stride(from: 0, to: targets.count, by: 1_000) {
            try socket.send(["type": "subscribe", "subscription_type": "strategy", "targets": Array(targets[start..<start + 1_000])])
            var replies = 0
            while replies < 1_000, let message = try await socket.receive() {
                #expect(message["type"] as? String != "error", "\(message)")
                if message["type"] as? String == "subscribed" { replies += 1 }
            }
            #expect(replies == 1_000)
        }
        let ownList = try await HTTP.send("GET", second.broker.baseURL + "/api/websocket/clients")
        let ownSubscriptions = try await HTTP.send("GET", second.broker.baseURL + "/api/websocket/subscriptions?limit=100000")
        #expect(ownList.body.readableBytes > SessionLookupAnswer.maxBodyBytes && ownSubscriptions.body.readableBytes > SessionLookupAnswer.maxBodyBytes)

        let (status, everyone) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients?nodes=all")
        let rows = everyone["clients"] as? [[String: Any]] ?? []
        #expect(status == 200 && everyone["count"] as? Int == 1 && (everyone["errors"] as? [Any] ?? []).isEmpty, "\(everyone["errors"] ?? "")")
        #expect(rows.first?["client_id"] as? String == clientID && rows.first?["node"] as? String == "node-b")
        let subscribed = (rows.first?["subscriptions"] as? [[String: Any]] ?? []).compactMap { $0["target"] as? String }
        let everySubscription = subscribed.sorted() == targets
        #expect(everySubscription, "every one of the \(targets.count) subscriptions, each name whole: \(subscribed.count) came")

        let (listed, all) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/subscriptions?nodes=all&limit=100000")
        let allRows = all["subscriptions"] as? [[String: Any]] ?? []
        #expect(listed == 200 && all["count"] as? Int == 6_000 && (all["errors"] as? [Any] ?? []).isEmpty, "\(all["errors"] ?? "")")
        let everyTarget = allRows.compactMap { $0["target"] as? String }.sorted() == targets
        #expect(everyTarget, "every one of the \(targets.count) targets, each name whole: \(allRows.count) rows came")
        #expect(allRows.allSatisfy { $0["subscribers"] as? Int == 1 && $0["connected"] as? Int == 1 })
        #expect((all["unanswered"] as? [String])?.isEmpty == true, "\(all["unanswered"] ?? "")")
        // Of the four messages (two answers in two parts each, the last parts' length aside),
        // at least the first parts were skipped; nothing was malformed.
        let read = try #require(try await stats(third)["redis"] as? [String: Any])
        #expect((read["answersForOthersSkipped"] as? Int ?? 0) >= 2 && read["malformed"] as? Int == 0, "\(read)")
        let asker = try #require(try await stats(first)["redis"] as? [String: Any])
        #expect(asker["answersForOthersSkipped"] as? Int == 0, "\(asker)")

        await socket.close()
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
        #expect(await third.broker.terminate() == 0)
    }

    @Test func removingAUserOnOneNodeClosesItsConnectionsOnEveryNode() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let auth = ["--jwt-secret", TestTokens.secret]
        let (first, second) = (try await startNode("node-a", redis: redis, in: dir, auth), try await startNode("node-b", redis: redis, in: dir, auth))
        for node in [first, second] { try await waitUntilSharing(node) }
        func connect(_ user: String, to node: Node) async throws -> (TestWebSocket, String) {
            let token = try await TestTokens.expiring(user: user, at: Date().addingTimeInterval(3_600))
            return try await self.connect(node.broker.webSocketURL + "?token=\(token)", subscribing: [("stock", "600519")])
        }
        func closeReason(_ socket: TestWebSocket) async throws -> String? {
            while try await socket.receive() != nil {}
            return try await socket.closeFrame()?.reason
        }
        func sessionEnd(of clientID: String, on node: Node) throws -> [String] {
            try journaledEvents(node.broker.journalPath, kinds: [.clientDisconnected, .sessionExpired]).compactMap { event in
                switch event {
                case .clientDisconnected(let payload) where payload.clientID == clientID: "disconnected \(payload.reason.rawValue)"
                case .sessionExpired(let payload) where payload.clientID == clientID: "expired"
                default: nil
                }
            }
        }
        func waitForLog(_ node: Node, _ text: String, count: Int) async throws {
            for _ in 0..<400 where node.broker.logText.components(separatedBy: text).count - 1 < count {
                try await Task.sleep(for: .milliseconds(25))
            }
            #expect(node.broker.logText.components(separatedBy: text).count - 1 == count, "\(node.id): \(text)")
        }
        let (aliceOnFirst, _) = try await connect("alice", to: first)
        let (aliceOnSecond, aliceOnSecondID) = try await connect("alice", to: second)
        let (carolOnSecond, _) = try await connect("carol", to: second)
        let (bobOnSecond, bobOnSecondID) = try await connect("bob", to: second)

        // Only the node asked: carol has no session there, and the other node is not asked.
        let (thisOnly, thisBody) = try await HTTP.request("DELETE", first.broker.baseURL + "/api/websocket/clients?user=carol&nodes=this")
        #expect(thisOnly == 200 && thisBody["count"] as? Int == 0 && thisBody["other_nodes"] as? String == "not_asked", "\(thisBody)")
        #expect(thisBody["total"] as? Int == 0 && (thisBody["nodes"] as? [Any])?.isEmpty == true, "\(thisBody)")

        // Her connections are listed from either node, each with its node.
        try await waitUntilKnown(first, knows: second)
        let (listed, list) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients?user=alice")
        let rows = list["clients"] as? [[String: Any]] ?? []
        #expect(listed == 200 && list["count"] as? Int == 2 && list["other_nodes"] as? String == "asked", "\(list)")
        #expect(Set(rows.map { $0["node"] as? String }) == ["node-a", "node-b"] && rows.allSatisfy { $0["user"] as? String == "alice" }, "\(list)")
        #expect(rows.contains { $0["client_id"] as? String == aliceOnSecondID && $0["node"] as? String == "node-b" }, "\(list)")
        #expect((list["unanswered"] as? [String])?.isEmpty == true, "\(list)")
        let (_, here) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients?user=alice&nodes=this")
        #expect(here["count"] as? Int == 1 && here["other_nodes"] as? String == "not_asked", "\(here)")
        let (_, nobody) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients?user=nobody")
        #expect(nobody["count"] as? Int == 0 && nobody["other_nodes"] as? String == "asked", "\(nobody)")
        // Everyone's connections, when asked for; by default this node's alone.
        let (_, everyone) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients?nodes=all")
        let everyRow = everyone["clients"] as? [[String: Any]] ?? []
        #expect(everyone["count"] as? Int == 4 && everyone["other_nodes"] as? String == "asked", "\(everyone)")
        #expect(everyRow.filter { $0["node"] as? String == "node-b" }.count == 3, "\(everyone)")
        // A page of them: the nodes' rows merged, oldest first, then cut; `count` of them all.
        let (_, paged) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients?nodes=all&offset=1&limit=2")
        let pagedIDs = (paged["clients"] as? [[String: Any]] ?? []).compactMap { $0["client_id"] as? String }
        #expect(pagedIDs == Array(everyRow.compactMap { $0["client_id"] as? String }[1..<3]), "\(paged)")
        #expect(paged["count"] as? Int == 4 && paged["offset"] as? Int == 1 && paged["limit"] as? Int == 2, "\(paged)")
        // For a page, each node sends only its oldest rows up to the page's end, and the count of all.
        let answer = try await answerOnRedis(redis, from: "node-b", to: #"{"node":"node-z","find_connections":{"request_id":"page1","first":1}}"#)
        let found = try #require(answer["found_connections"] as? [String: Any], "\(answer)")
        let sent = try #require(try JSONSerialization.jsonObject(with: Data((found["body"] as? String ?? "").utf8)) as? [String: Any])
        #expect((sent["clients"] as? [Any])?.count == 1 && sent["count"] as? Int == 3, "\(sent)")
        // With ?subscriptions=count each node sends its rows with the count of their subscriptions, not the list.
        let countedAnswer = try await answerOnRedis(
            redis, from: "node-b", to: #"{"node":"node-z","find_connections":{"request_id":"count1","subscriptions":"count"}}"#)
        let countedText = (countedAnswer["found_connections"] as? [String: Any])?["body"] as? String ?? ""
        let countedSent = try #require(try JSONSerialization.jsonObject(with: Data(countedText.utf8)) as? [String: Any], "\(countedAnswer)")
        let countedSentRows = countedSent["clients"] as? [[String: Any]] ?? []
        #expect(countedSentRows.count == 3, "\(countedSent)")
        #expect(countedSentRows.allSatisfy { $0["subscriptions"] == nil && $0["subscription_count"] as? Int == 1 }, "\(countedSent)")
        for query in ["nodes=all&subscriptions=count", "user=alice&subscriptions=count"] {
            let (_, counted) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients?" + query)
            let countedRows = counted["clients"] as? [[String: Any]] ?? []
            #expect(countedRows.count == (query.hasPrefix("user") ? 2 : 4) && Set(countedRows.map { $0["node"] as? String }) == ["node-a", "node-b"], "\(counted)")
            #expect(countedRows.allSatisfy { $0["subscriptions"] == nil && $0["subscription_count"] as? Int == 1 }, "\(query): \(counted)")
        }
        let (_, thisNode) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients")
        #expect(thisNode["count"] as? Int == 1 && thisNode["other_nodes"] == nil, "\(thisNode)")
        // And who subscribes to 600519: everyone, on both nodes.
        let (_, audience) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/subscriptions?type=stock&target=600519")
        let row = (audience["subscriptions"] as? [[String: Any]])?.first ?? [:]
        #expect(audience["count"] as? Int == 1 && audience["other_nodes"] as? String == "asked", "\(audience)")
        #expect(row["subscribers"] as? Int == 4 && row["connected"] as? Int == 4, "\(audience)")
        #expect((row["clients"] as? [String])?.contains(aliceOnSecondID) == true && (row["clients"] as? [String])?.count == 4, "\(audience)")
        let (_, audienceHere) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/subscriptions?type=stock&target=600519&nodes=this")
        #expect(((audienceHere["subscriptions"] as? [[String: Any]])?.first?["subscribers"] as? Int) == 1, "\(audienceHere)")
        #expect(audienceHere["other_nodes"] as? String == "not_asked", "\(audienceHere)")
        // Every subscription of every node, when asked for: summed over the nodes, then ranked and cut.
        try bobOnSecond.send(["type": "subscribe", "subscription_type": "market", "target": "sh"])
        #expect(try await bobOnSecond.receive(type: "subscribed") != nil)
        let (_, all) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/subscriptions?nodes=all")
        let allRows = (all["subscriptions"] as? [[String: Any]] ?? []).map { "\($0["type"] ?? "") \($0["target"] ?? "") \($0["subscribers"] ?? "") \($0["connected"] ?? "")" }
        #expect(all["count"] as? Int == 2 && allRows == ["stock 600519 4 4", "market sh 1 1"] && all["other_nodes"] as? String == "asked", "\(all)")
        #expect((all["subscriptions"] as? [[String: Any]])?.allSatisfy { $0["clients"] == nil } == true, "no client ids without a target")
        let (_, top) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/subscriptions?nodes=all&limit=1")
        #expect(top["count"] as? Int == 2 && (top["subscriptions"] as? [[String: Any]])?.map { $0["target"] as? String } == ["600519"], "\(top)")
        let (_, markets) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/subscriptions?nodes=all&type=market")
        #expect(markets["count"] as? Int == 1 && (markets["subscriptions"] as? [[String: Any]])?.first?["subscribers"] as? Int == 1, "\(markets)")
        let (_, own) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/subscriptions")
        #expect(own["count"] as? Int == 1 && own["other_nodes"] == nil, "by default this node's alone: \(own)")

        // Every node: alice's connection on each is closed, and her session there ended; the
        // answer waits for the other node, which the first knows by its heartbeats, to say so.
        let (status, body) = try await HTTP.request("DELETE", first.broker.baseURL + "/api/websocket/clients?user=alice")
        #expect(status == 200 && body["count"] as? Int == 1 && body["other_nodes"] as? String == "asked", "\(body)")
        let answers = body["nodes"] as? [[String: Any]] ?? []
        #expect(answers.map { $0["node"] as? String } == ["node-b"], "\(body)")
        #expect(answers.first?["count"] as? Int == 1 && answers.first?["clients"] as? [String] == [aliceOnSecondID], "\(body)")
        #expect(body["total"] as? Int == 2 && (body["unanswered"] as? [String])?.isEmpty == true, "\(body)")
        #expect(try await closeReason(aliceOnFirst) == "kicked")
        #expect(try await closeReason(aliceOnSecond) == "kicked")
        let removedHere = "a user's sessions removed, asked on another node"
        try await waitForLog(second, removedHere, count: 1)
        #expect(second.broker.logText.contains("node=node-a"), "names the node asked")
        #expect(try sessionEnd(of: aliceOnSecondID, on: second) == ["disconnected kicked", "expired"])
        #expect(!first.broker.logText.contains(removedHere), "a node skips its own message")
        // Carol, whose removal stayed on the first node, is served on the second.
        try carolOnSecond.send(["type": "ping"])
        #expect(try await carolOnSecond.receive(type: "pong") != nil)

        // An operator's tool may publish a removal itself, untagged: every node acts on it.
        _ = try redis.cli("PUBLISH", "ticks:removals", #"{"remove_user":{"user":"bob","session":"keep"}}"#)
        #expect(try await closeReason(bobOnSecond) == "kicked")
        try await waitForLog(second, removedHere, count: 2)
        #expect(try sessionEnd(of: bobOnSecondID, on: second) == ["disconnected kicked"], "the session kept, resumable")

        // A removal heard too late is left alone (carol may have connected again since), and a
        // flood of them is logged once; the removal after them shows they were all read.
        for _ in 0..<3 {
            _ = try redis.cli("PUBLISH", "ticks:removals", #"{"node":"node-x","remove_user":{"user":"carol","requested_at":1700000000000000}}"#)
        }
        // So is a session's, throttled on its own: the user's just logged does not hide it.
        for _ in 0..<3 {
            _ = try redis.cli(
                "PUBLISH", "ticks:removals", #"{"node":"node-x","remove_client":{"client_id":"client_0000000c","requested_at":1700000000000000}}"#)
        }
        // A time at Int64's end is malformed (its age from the clock overflowed: the node crashed).
        _ = try redis.cli("PUBLISH", "ticks:removals", #"{"remove_user":{"user":"carol","requested_at":-9223372036854775808}}"#)
        _ = try redis.cli("PUBLISH", "ticks:removals", #"{"remove_user":{"user":"nobody"}}"#)
        try await waitForLog(second, removedHere, count: 3)
        #expect(second.broker.logText.components(separatedBy: "a user's removal asked on another node came too late and is not acted on").count - 1 == 1)
        #expect(second.broker.logText.components(separatedBy: "a session's removal asked on another node came too late and is not acted on").count - 1 == 1)
        try carolOnSecond.send(["type": "ping"])
        #expect(try await carolOnSecond.receive(type: "pong") != nil, "carol's connection stays")

        // What each node asked of the other, and what it was asked, counted.
        let asking = try await metricSamples(of: first.broker)
        for (kind, count) in [("find_user", 3.0), ("find_connections", 3), ("find_subscribers", 1), ("find_subscriptions", 3), ("remove_user", 1)] {
            #expect(asking.value("brokerd_node_requests_total", ["kind": kind, "outcome": "answered"]) == count, "\(kind)")
            #expect(asking.value("brokerd_node_request_seconds_count", ["kind": kind]) == count, "\(kind)")
        }
        #expect(asking.value("brokerd_node_requests_total", ["outcome": "partial"]) == nil)
        let asked = try await metricSamples(of: second.broker)
        for (kind, result, count) in [
            ("find_user", "answered", 3.0), ("find_connections", "answered", 5), ("find_subscribers", "answered", 1), ("find_subscriptions", "answered", 3),
            ("remove_user", "answered", 1), ("remove_user", "acted", 2), ("remove_user", "stale", 3), ("remove_client", "stale", 3),
        ] {
            #expect(asked.value("brokerd_node_requests_received_total", ["kind": kind, "result": result]) == count, "\(kind) \(result)")
        }

        await carolOnSecond.close()
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    /// With `redis_secret`, the nodes sign what they share and take only what is signed with it
    /// where a signature is needed: a node's tagged messages, every removal, lookup, answer and
    /// heartbeat, every shared-log entry. Untagged data from feeders is taken as before.
    @Test func withASharedSecretNodesTakeOnlyWhatIsSignedWithIt() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let secret = ["--redis-secret", String(repeating: "s", count: 40)]
        let (first, second) = (try await startNode("node-a", redis: redis, in: dir, secret), try await startNode("node-b", redis: redis, in: dir, secret))
        for node in [first, second] { try await waitUntilSharing(node) }
        let (onSecond, onSecondID) = try await connect(second.broker.webSocketURL, subscribing: [("stock", "600519"), ("news", "all")])

        // Signed, what one node ingests reaches the other, and so do heartbeats, lookups and answers.
        try await post(first.broker.baseURL, "/api/ticks", tick("600519", 101))
        try await waitFor(onSecond, "price", key: "600519@101.0")
        try await post(first.broker.baseURL, "/api/news", #"{"id":"n-1","title":"Signed"}"#)
        try await waitFor(onSecond, "news", key: "n-1")
        try await waitUntilKnown(first, knows: second)
        let (found, foundBody) = try await HTTP.request("GET", first.broker.baseURL + "/api/websocket/clients/\(onSecondID)")
        #expect(found == 200 && foundBody["node"] as? String == "node-b", "\(foundBody)")
        let logged = try redis.cli("XRANGE", "ticks:log", "-", "+")
        #expect(logged.contains(#"{"sig":""#) && logged.contains("n-1"), "the log's entries are signed: \(logged)")

        // Refused: a tick tagged as a node's but unsigned, an untagged removal (an operator's tool
        // uses the HTTP API then), news signed with another secret.
        _ = try redis.cli("PUBLISH", "ticks", #"{"node":"node-a","instance":"0000000000000000","ticks":[{"code":"600519","price":999}]}"#)
        _ = try redis.cli("PUBLISH", "ticks:removals", #"{"remove_client":{"client_id":"\#(onSecondID)"}}"#)
        let forged = SharedMessageSigner(secret: String(repeating: "x", count: 40))
            .sign(Array(#"{"node":"node-a","instance":"0000000000000000","news":{"id":"n-forged","title":"Forged"}}"#.utf8))
        _ = try redis.cli("PUBLISH", "ticks:news", String(decoding: forged, as: UTF8.self))
        // A feeder's untagged tick is taken as before; read after the others, it shows they were read.
        _ = try redis.cli("PUBLISH", "ticks", #"{"ticks":[{"code":"600519","price":102}]}"#)
        let seen = try await collect(onSecond, until: Seen(type: "price", seq: 0, key: "600519@102.0"))
        #expect(!seen.contains { $0.key == "600519@999.0" || $0.key == "n-forged" }, "\(seen)")
        try onSecond.send(["type": "ping"])
        #expect(try await onSecond.receive(type: "pong") != nil, "the connection stays")
        // A shared-log entry appended by anyone but a node is refused too.
        _ = try redis.cli("XADD", "ticks:log", "*", "kind", "news", "message", #"{"node":"node-x","instance":"x","news":{"id":"n-unsigned","title":"Unsigned"}}"#)
        try await post(first.broker.baseURL, "/api/news", #"{"id":"n-2","title":"Signed again"}"#)
        try await waitFor(onSecond, "news", key: "n-2")

        #expect(try prices(in: second.broker.journalPath) == [101, 102])
        #expect(try newsIDs(in: second.broker.journalPath) == ["n-1", "n-2"])
        let source = try #require(try await stats(second)["redis"] as? [String: Any])
        #expect(source["unsigned"] as? Int == 4, "\(source)")
        let metrics = try await metricSamples(of: second.broker)
        #expect(metrics.value("brokerd_redis_unsigned_total") == 4)
        #expect(metrics.value("brokerd_redis_signing") == 1 && metrics.value("brokerd_redis_signatures_required") == 1)
        #expect(second.broker.logText.contains("refused a message on the shared channels: not signed with redis_secret"))
        let (_, config) = try await HTTP.request("GET", second.broker.baseURL + "/api/config")
        #expect((config["settings"] as? [String: Any])?["redis_secret"] as? String == "set", "shown only as set")

        await onSecond.close()
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    /// Appends to the shared log, again, the signed entry whose message contains all of `texts`:
    /// what anyone who can read and write Redis could do.
    private func appendAgain(logEntryWith texts: [String], in redis: RedisProcess) throws {
        let lines = try redis.cli("XRANGE", "ticks:log", "-", "+").split(separator: "\n").map(String.init)
        let entry = try #require(lines.indices.first { index in texts.allSatisfy { lines[index].contains($0) } })
        #expect(lines[entry - 1] == "message" && lines[entry].hasPrefix(#"{"sig":""#), "\(lines)")
        _ = try redis.cli("XADD", "ticks:log", "*", lines[entry - 3], lines[entry - 2], "message", lines[entry])
    }

    /// A signed message published again is refused: a copy of a node's tick (its signer's number
    /// read before), one signed 40 s ago, one signed by a build without stamps (while signatures
    /// are required), and a copy of a shared-log entry appended again (an old signal list that
    /// would otherwise replace the newer one on every node).
    @Test func withASharedSecretACopyOfASignedMessageIsRefused() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let secret = String(repeating: "s", count: 40)
        let (first, second) = (try await startNode("node-a", redis: redis, in: dir, ["--redis-secret", secret]), try await startNode("node-b", redis: redis, in: dir, ["--redis-secret", secret]))
        for node in [first, second] { try await waitUntilSharing(node) }
        let (onSecond, _) = try await connect(second.broker.webSocketURL, subscribing: [("stock", "600519")])

        // Signed with the secret as node-a's process would: taken once.
        let signer = SharedMessageSigner(secret: secret)
        func signed(_ price: Double, _ stamp: SharedMessageSigner.Stamp?) -> String {
            let message = #"{"node":"node-a","instance":"00000000000000ff","ticks":[{"code":"600519","price":\#(price)}]}"#
            return String(decoding: signer.sign(Array(message.utf8), stamp: stamp), as: UTF8.self)
        }
        let now = WallClock.microsecondsNow()
        let original = signed(201, SharedMessageSigner.Stamp(at: now, number: 1))
        _ = try redis.cli("PUBLISH", "ticks", original)
        try await waitFor(onSecond, "price", key: "600519@201.0")
        try await post(first.broker.baseURL, "/api/ticks", tick("600519", 202))
        try await waitFor(onSecond, "price", key: "600519@202.0")
        _ = try redis.cli("PUBLISH", "ticks", original)
        _ = try redis.cli("PUBLISH", "ticks", signed(203, SharedMessageSigner.Stamp(at: now - 40_000_000, number: 2)))
        _ = try redis.cli("PUBLISH", "ticks", signed(204, nil))
        _ = try redis.cli("PUBLISH", "ticks", #"{"ticks":[{"code":"600519","price":205}]}"#)
        let seen = try await collect(onSecond, until: Seen(type: "price", seq: 0, key: "600519@205.0"))
        #expect(!seen.contains { ["600519@201.0", "600519@203.0", "600519@204.0"].contains($0.key) }, "\(seen)")
        #expect(try prices(in: second.broker.journalPath) == [201, 202, 205])

        // The shared log: list A, then B; A's entry appended again leaves B on every node.
        #expect(try await HTTP.request("PUT", first.broker.baseURL + "/api/signals/replayed", body: #"{"signals":[{"code":"600519"}]}"#).0 == 200)
        try await waitForSignals(second, "replayed", ["600519"])
        #expect(try await HTTP.request("PUT", first.broker.baseURL + "/api/signals/replayed", body: #"{"signals":[{"code":"000001"}]}"#).0 == 200)
        try await waitForSignals(second, "replayed", ["000001"])
        try appendAgain(logEntryWith: [#""strategy":"replayed""#, "600519"], in: redis)
        // The log is read in order: news appended after the copy shows it was read.
        try await post(first.broker.baseURL, "/api/news", #"{"id":"n-after","title":"After"}"#)
        try await waitForStats(second, "the news after the copy") { (($0["redis"] as? [String: Any])?["shared"] as? Int ?? 0) >= 3 }
        try await waitForSignals(second, "replayed", ["000001"])
        #expect(try journaledEvents(second.broker.journalPath, kinds: [.signalsReplaced]).count == 2)

        let source = try #require(try await stats(second)["redis"] as? [String: Any])
        #expect(source["replayed"] as? Int == 3 && source["unsigned"] as? Int == 1, "\(source)")
        #expect(try await metricSamples(of: second.broker).value("brokerd_redis_replayed_total") == 3)
        #expect(second.broker.logText.contains("refused a signed message on the shared channels: a copy published again"))
        #expect(second.broker.logText.contains("was taken before: published again"))

        await onSecond.close()
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    /// Turning signing on node by node: a node with `redis_secret` and `redis_secret_required`
    /// off signs what it shares and takes the unsigned messages of a node without the secret (as
    /// that one takes its signed ones), and still refuses a signature made with another secret.
    @Test func whileSignaturesAreNotRequiredSignedAndUnsignedNodesHearEachOther() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let signing = try await startNode("node-a", redis: redis, in: dir, ["--redis-secret", String(repeating: "s", count: 40), "--redis-secret-required", "off"])
        let plain = try await startNode("node-b", redis: redis, in: dir)
        for node in [signing, plain] { try await waitUntilSharing(node) }
        let subscriptions = [("stock", "600519"), ("news", "all")]
        let (onSigning, onSigningID) = try await connect(signing.broker.webSocketURL, subscribing: subscriptions)
        let (onPlain, _) = try await connect(plain.broker.webSocketURL, subscribing: subscriptions)

        try await post(signing.broker.baseURL, "/api/ticks", tick("600519", 101))
        try await waitFor(onPlain, "price", key: "600519@101.0")
        try await post(signing.broker.baseURL, "/api/news", #"{"id":"n-signed","title":"Signed"}"#)
        try await waitFor(onPlain, "news", key: "n-signed")
        try await post(plain.broker.baseURL, "/api/ticks", tick("600519", 102))
        try await waitFor(onSigning, "price", key: "600519@102.0")
        try await post(plain.broker.baseURL, "/api/news", #"{"id":"n-plain","title":"Unsigned"}"#)
        try await waitFor(onSigning, "news", key: "n-plain")
        // A lookup asked unsigned, answered signed.
        try await waitUntilKnown(plain, knows: signing)
        let (found, foundBody) = try await HTTP.request("GET", plain.broker.baseURL + "/api/websocket/clients/\(onSigningID)")
        #expect(found == 200 && foundBody["node"] as? String == "node-a", "\(foundBody)")

        let forged = SharedMessageSigner(secret: String(repeating: "x", count: 40))
            .sign(Array(#"{"node":"node-b","instance":"0000000000000000","news":{"id":"n-forged","title":"Forged"}}"#.utf8))
        _ = try redis.cli("PUBLISH", "ticks:news", String(decoding: forged, as: UTF8.self))
        // Signed without a stamp, as an earlier build signs: taken while signatures are not required.
        let unstamped = SharedMessageSigner(secret: String(repeating: "s", count: 40))
            .sign(Array(#"{"node":"node-c","instance":"00000000000000cc","news":{"id":"n-unstamped","title":"Earlier build"}}"#.utf8), stamp: nil)
        _ = try redis.cli("PUBLISH", "ticks:news", String(decoding: unstamped, as: UTF8.self))
        try await post(plain.broker.baseURL, "/api/news", #"{"id":"n-after","title":"After"}"#)
        let seen = try await collect(onSigning, until: Seen(type: "news", seq: 0, key: "n-after"))
        #expect(!seen.contains { $0.key == "n-forged" }, "\(seen)")
        #expect(try newsIDs(in: signing.broker.journalPath).sorted() == ["n-after", "n-plain", "n-signed", "n-unstamped"])
        #expect((try await stats(signing)["redis"] as? [String: Any])?["unsigned"] as? Int == 1)
        let (signingMetrics, plainMetrics) = (try await metricSamples(of: signing.broker), try await metricSamples(of: plain.broker))
        #expect(signingMetrics.value("brokerd_redis_signing") == 1 && signingMetrics.value("brokerd_redis_signatures_required") == 0)
        #expect(plainMetrics.value("brokerd_redis_signing") == 0 && plainMetrics.value("brokerd_redis_signatures_required") == 0)

        await onSigning.close()
        await onPlain.close()
        #expect(await signing.broker.terminate() == 0)
        #expect(await plain.broker.terminate() == 0)
    }

    /// Rotating the secret: in the middle of the roll, a node that signs with the old secret and
    /// takes the new one's signatures, and one that signs with the new and takes the old's, hear
    /// each other; a third secret is refused by both.
    @Test func whileTheSecretIsRotatedNodesSigningWithEitherHearEachOther() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (old, new) = (String(repeating: "o", count: 40), String(repeating: "n", count: 40))
        let first = try await startNode("node-a", redis: redis, in: dir, ["--redis-secret", old, "--redis-secret-accepted", new])
        let second = try await startNode("node-b", redis: redis, in: dir, ["--redis-secret", new, "--redis-secret-accepted", old])
        for node in [first, second] { try await waitUntilSharing(node) }
        let (onFirst, _) = try await connect(first.broker.webSocketURL, subscribing: [("news", "all")])
        let (onSecond, _) = try await connect(second.broker.webSocketURL, subscribing: [("news", "all")])

        try await post(first.broker.baseURL, "/api/news", #"{"id":"n-old","title":"Signed with the old secret"}"#)
        try await waitFor(onSecond, "news", key: "n-old")
        try await post(second.broker.baseURL, "/api/news", #"{"id":"n-new","title":"Signed with the new secret"}"#)
        try await waitFor(onFirst, "news", key: "n-new")
        try await waitUntilKnown(first, knows: second)
        try await waitUntilKnown(second, knows: first)

        let third = SharedMessageSigner(secret: String(repeating: "x", count: 40))
            .sign(Array(#"{"node":"node-x","instance":"0000000000000000","news":{"id":"n-third","title":"Third"}}"#.utf8))
        _ = try redis.cli("PUBLISH", "ticks:news", String(decoding: third, as: UTF8.self))
        try await post(first.broker.baseURL, "/api/news", #"{"id":"n-after","title":"After"}"#)
        let seen = try await collect(onSecond, until: Seen(type: "news", seq: 0, key: "n-after"))
        #expect(!seen.contains { $0.key == "n-third" }, "\(seen)")
        for node in [first, second] {
            #expect(try newsIDs(in: node.broker.journalPath).sorted() == ["n-after", "n-new", "n-old"], "\(node.id)")
        }
        let (_, config) = try await HTTP.request("GET", first.broker.baseURL + "/api/config")
        #expect((config["settings"] as? [String: Any])?["redis_secret_accepted"] as? String == "set", "shown only as set")

        await onFirst.close()
        await onSecond.close()
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    /// A node restarted knows the shared-log entries it took in the minute before: a copy of one
    /// appended after the restart (within the 30 s its stamp allows) is refused as a copy, not
    /// taken as the first it sees.
    @Test func aNodeRestartedRefusesACopyOfALogEntryItTookBeforeTheRestart() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let secret = ["--redis-secret", String(repeating: "s", count: 40)]
        let first = try await startNode("node-a", redis: redis, in: dir, secret)
        let second = try await startNode("node-b", redis: redis, in: dir, secret)
        for node in [first, second] { try await waitUntilSharing(node) }
        #expect(try await HTTP.request("PUT", first.broker.baseURL + "/api/signals/replayed", body: #"{"signals":[{"code":"600519"}]}"#).0 == 200)
        #expect(try await HTTP.request("PUT", first.broker.baseURL + "/api/signals/replayed", body: #"{"signals":[{"code":"000001"}]}"#).0 == 200)
        try await waitForSignals(second, "replayed", ["000001"])
        #expect(await second.broker.terminate() == 0)

        let back = try await startNode("node-b", redis: redis, in: dir, secret)
        try await waitUntilSharing(back)
        try appendAgain(logEntryWith: [#""strategy":"replayed""#, "600519"], in: redis)
        try await post(first.broker.baseURL, "/api/news", #"{"id":"n-after","title":"After"}"#)
        try await waitForStats(back, "the news after the copy") { (($0["redis"] as? [String: Any])?["shared"] as? Int ?? 0) >= 1 }
        try await waitForSignals(back, "replayed", ["000001"])
        #expect(try journaledEvents(back.broker.journalPath, kinds: [.signalsReplaced]).count == 2, "each list once, before the restart")
        #expect((try await stats(back)["redis"] as? [String: Any])?["replayed"] as? Int == 1)

        #expect(await first.broker.terminate() == 0)
        #expect(await back.broker.terminate() == 0)
    }

    /// Pub/sub keeps no history for a restarted node to recall what it took: its reader refuses
    /// what was signed before it started, so a copy of a message the node took before its
    /// restart, published again within the message's 30 s, is refused; one signed since is taken.
    @Test func aNodeRestartedRefusesACopyOfAPubSubMessageItTookBeforeTheRestart() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let secret = String(repeating: "s", count: 40)
        let signer = SharedMessageSigner(secret: secret)
        func signed(_ price: Double, number: UInt64) -> String {
            let message = #"{"node":"node-a","instance":"00000000000000ff","ticks":[{"code":"600519","price":\#(price)}]}"#
            let stamp = SharedMessageSigner.Stamp(at: WallClock.microsecondsNow(), number: number)
            return String(decoding: signer.sign(Array(message.utf8), stamp: stamp), as: UTF8.self)
        }
        let node = try await startNode("node-b", redis: redis, in: dir, ["--redis-secret", secret])
        try await waitUntilSharing(node)
        let original = signed(301, number: 1)
        _ = try redis.cli("PUBLISH", "ticks", original)
        for _ in 0..<200 where try prices(in: node.broker.journalPath).isEmpty { try await Task.sleep(for: .milliseconds(25)) }
        #expect(try prices(in: node.broker.journalPath) == [301])
        #expect(await node.broker.terminate() == 0)

        let back = try await startNode("node-b", redis: redis, in: dir, ["--redis-secret", secret])
        try await waitUntilSharing(back)
        let (socket, _) = try await connect(back.broker.webSocketURL, subscribing: [("stock", "600519")])
        _ = try redis.cli("PUBLISH", "ticks", original)
        _ = try redis.cli("PUBLISH", "ticks", signed(302, number: 2))
        // Read in order: once the one signed since has come, the copy was read before it.
        _ = try await collect(socket, until: Seen(type: "price", seq: 0, key: "600519@302.0"))
        #expect(try prices(in: back.broker.journalPath) == [301, 302], "the copy not journaled again")
        #expect((try await stats(back)["redis"] as? [String: Any])?["replayed"] as? Int == 1)
        #expect(back.broker.logText.contains("before this reader started"))
        await socket.close()
        #expect(await back.broker.terminate() == 0)
    }

    /// The secret rotated by reloads, no node restarted: each node accepts the new secret, then
    /// signs with it (accepting the old), then drops the old; at every step each hears the other,
    /// and no message is refused as a copy (the numbers of a process's stamps go on across signers).
    @Test func theSecretIsRotatedByReloadsWithoutARestart() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (old, new) = (String(repeating: "o", count: 40), String(repeating: "n", count: 40))
        func configure(_ id: String, secret: String, accepted: String? = nil) throws {
            try "[redis]\nsecret = \"\(secret)\"\n\(accepted.map { "secret_accepted = \"\($0)\"\n" } ?? "")"
                .write(toFile: dir.path("\(id).toml"), atomically: true, encoding: .utf8)
        }
        try configure("node-a", secret: old)
        try configure("node-b", secret: old)
        let first = try await startNode("node-a", redis: redis, in: dir, ["--config", dir.path("node-a.toml")])
        let second = try await startNode("node-b", redis: redis, in: dir, ["--config", dir.path("node-b.toml")])
        for node in [first, second] { try await waitUntilSharing(node) }
        let (onFirst, _) = try await connect(first.broker.webSocketURL, subscribing: [("news", "all")])
        let (onSecond, _) = try await connect(second.broker.webSocketURL, subscribing: [("news", "all")])
        func reload(_ node: Node, secret: String, accepted: String? = nil) async throws {
            try configure(node.id, secret: secret, accepted: accepted)
            let (status, body) = try await HTTP.request("POST", node.broker.baseURL + "/api/config/reload")
            #expect(status == 200 && body["result"] as? String == "applied", "\(body)")
        }
        func newsBothWays(_ step: Int) async throws {
            try await post(first.broker.baseURL, "/api/news", #"{"id":"a-\#(step)","title":"From a"}"#)
            try await waitFor(onSecond, "news", key: "a-\(step)")
            try await post(second.broker.baseURL, "/api/news", #"{"id":"b-\#(step)","title":"From b"}"#)
            try await waitFor(onFirst, "news", key: "b-\(step)")
        }

        try await newsBothWays(0)
        for node in [first, second] { try await reload(node, secret: old, accepted: new) }
        try await newsBothWays(1)
        try await reload(first, secret: new, accepted: old)
        try await newsBothWays(2)
        try await reload(second, secret: new, accepted: old)
        try await newsBothWays(3)
        for node in [first, second] { try await reload(node, secret: new) }
        try await newsBothWays(4)

        // The old secret is refused now.
        let signedWithOld = SharedMessageSigner(secret: old)
            .sign(Array(#"{"node":"node-x","instance":"0000000000000000","news":{"id":"n-old","title":"Old"}}"#.utf8))
        _ = try redis.cli("PUBLISH", "ticks:news", String(decoding: signedWithOld, as: UTF8.self))
        try await newsBothWays(5)
        for (node, socket) in [(first, onFirst), (second, onSecond)] {
            #expect(try newsIDs(in: node.broker.journalPath).count == 12 && !(try newsIDs(in: node.broker.journalPath).contains("n-old")), "\(node.id)")
            let source = try #require(try await stats(node)["redis"] as? [String: Any])
            #expect(source["unsigned"] as? Int == 1 && source["replayed"] as? Int == 0, "\(node.id): \(source)")
            let (_, config) = try await HTTP.request("GET", node.broker.baseURL + "/api/config")
            #expect((config["settings"] as? [String: Any])?["redis_secret_accepted"] is NSNull, "\(config)")
            await socket.close()
        }
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    /// A node the one asked knows by its heartbeats but that does not answer in time (stopped by
    /// SIGSTOP here) is named in the answer; it acts on the removal once it runs again. The wait
    /// is the node asked's `redis_answer_wait`.
    @Test func aNodeThatDoesNotAnswerARemovalInTimeIsNamedUnanswered() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second, aliceOnSecond, _) = try await startPairWithAliceOnTheSecond(redis: redis, in: dir, firstArguments: ["--redis-answer-wait", "1"])

        second.broker.suspend()
        let (status, body) = try await HTTP.request("DELETE", first.broker.baseURL + "/api/websocket/clients?user=alice")
        second.broker.proceed()
        #expect(status == 200 && body["other_nodes"] as? String == "asked", "\(body)")
        #expect(body["unanswered"] as? [String] == ["node-b"] && (body["nodes"] as? [Any])?.isEmpty == true, "\(body)")
        #expect(body["count"] as? Int == 0 && body["total"] as? Int == 0, "\(body)")
        let asking = try await metricSamples(of: first.broker)
        #expect(asking.value("brokerd_node_requests_total", ["kind": "remove_user", "outcome": "partial"]) == 1)
        #expect(asking.value("brokerd_node_answers_missed_total", ["kind": "remove_user"]) == 1)
        // It waited its 1 s, not the default 6 (the bound leaves 4 s for a loaded machine).
        #expect(asking.value("brokerd_node_request_seconds_bucket", ["kind": "remove_user", "le": "5.0"]) == 1, "\(asking.filter { $0.name.hasPrefix("brokerd_node_request_seconds") })")
        // Within the removal's 30 s, the node acts on it when it runs again.
        while try await aliceOnSecond.receive() != nil {}
        #expect(try await aliceOnSecond.closeFrame()?.reason == "kicked")
        // Its answer comes when nothing waits for it any more: counted as such.
        var unawaited: Double?
        for _ in 0..<200 {
            unawaited = try await metricSamples(of: first.broker).value("brokerd_node_answers_unawaited_total")
            if unawaited != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(unawaited == 1)
        #expect(try await metricSamples(of: second.broker).value("brokerd_node_requests_received_total", ["kind": "remove_user", "result": "answered"]) == 1)
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    /// A client id the node asked does not have is asked of the others: the node that has the
    /// session shows it, removes it and answers what it did, or why it could not; none having it
    /// is a 404 that names the nodes that answered.
    @Test func aClientThatAnotherNodeHasIsShownAndRemovedThere() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let (first, second, alice, aliceID) = try await startPairWithAliceOnTheSecond(redis: redis, in: dir)
        let path = first.broker.baseURL + "/api/websocket/clients/\(aliceID)"
        func journaled() throws -> [String] {
            try journaledEvents(second.broker.journalPath, kinds: [.clientDisconnected, .sessionExpired]).compactMap { event in
                switch event {
                case .clientDisconnected(let payload) where payload.clientID == aliceID: "disconnected \(payload.reason.rawValue)"
                case .sessionExpired(let payload) where payload.clientID == aliceID: "expired"
                default: nil
                }
            }
        }

        let (thisOnly, thisBody) = try await HTTP.request("DELETE", path + "?nodes=this")
        #expect(thisOnly == 404 && thisBody["error"] as? String == "unknown_client", "\(thisBody)")
        let (notHere, notHereBody) = try await HTTP.request("GET", path + "?nodes=this")
        #expect(notHere == 404 && notHereBody["error"] as? String == "unknown_client", "\(notHereBody)")

        // Shown as node-b shows it.
        let (shown, shownBody) = try await HTTP.request("GET", path)
        let session = shownBody["session"] as? [String: Any] ?? [:]
        let connection = shownBody["connection"] as? [String: Any] ?? [:]
        #expect(shown == 200 && shownBody["node"] as? String == "node-b", "\(shownBody)")
        #expect(session["client_id"] as? String == aliceID && session["state"] as? String == "connected" && session["node"] as? String == "node-b", "\(shownBody)")
        #expect(connection["user"] as? String == "alice", "\(shownBody)")
        #expect((connection["subscriptions"] as? [[String: Any]])?.first?["target"] as? String == "600519", "\(shownBody)")

        // Her connection is closed on the node that has it, the session kept as asked.
        let (kept, keptBody) = try await HTTP.request("DELETE", path + "?session=keep")
        #expect(kept == 200 && keptBody["node"] as? String == "node-b" && keptBody["client_id"] as? String == aliceID, "\(keptBody)")
        #expect(keptBody["user"] as? String == "alice" && keptBody["disconnected"] as? Bool == true, "\(keptBody)")
        #expect(keptBody["session_ended"] as? Bool == false && (keptBody["seq"] as? Int ?? 0) > 0, "\(keptBody)")
        while try await alice.receive() != nil {}
        #expect(try await alice.closeFrame()?.reason == "kicked")
        #expect(try journaled() == ["disconnected kicked"])

        // Node-b's refusal is the answer: there is no connection left to close.
        let (conflict, conflictBody) = try await HTTP.request("DELETE", path + "?session=keep")
        #expect(conflict == 409 && conflictBody["error"] as? String == "client_not_connected", "\(conflictBody)")
        #expect((conflictBody["details"] as? String)?.hasPrefix("on node node-b: ") == true, "\(conflictBody)")

        // Ended there: nothing left to resume.
        let (ended, endedBody) = try await HTTP.request("DELETE", path)
        #expect(ended == 200 && endedBody["node"] as? String == "node-b", "\(endedBody)")
        #expect(endedBody["disconnected"] as? Bool == false && endedBody["session_ended"] as? Bool == true, "\(endedBody)")
        #expect(try journaled() == ["disconnected kicked", "expired"])
        #expect(second.broker.logText.contains("a session removed, asked on another node"))

        for method in ["DELETE", "GET"] {
            let (gone, goneBody) = try await HTTP.request(method, path)
            #expect(gone == 404 && goneBody["error"] as? String == "unknown_client", "\(method): \(goneBody)")
            #expect((goneBody["details"] as? String)?.contains("the 1 other nodes that answered (node-b)") == true, "\(method): \(goneBody)")
        }
        let (asking, asked) = (try await metricSamples(of: first.broker), try await metricSamples(of: second.broker))
        for (kind, count) in [("find_client", 2.0), ("remove_client", 4)] {
            #expect(asking.value("brokerd_node_requests_total", ["kind": kind, "outcome": "answered"]) == count, "\(kind)")
            #expect(asked.value("brokerd_node_requests_received_total", ["kind": kind, "result": "answered"]) == count, "\(kind)")
        }
        #expect(await first.broker.terminate() == 0)
        #expect(await second.broker.terminate() == 0)
    }

    /// Nodes `node-a` and `node-b` with client authentication on `redis`, both sharing, and alice
    /// connected to the second (subscribed to a stock), which the first (started with `firstArguments` too) knows by its heartbeats.
    private func startPairWithAliceOnTheSecond(
        redis: RedisProcess, in dir: TemporaryDirectory, firstArguments: [String] = []
    ) async throws -> (Node, Node, alice: TestWebSocket, aliceID: String) {
        let auth = ["--jwt-secret", TestTokens.secret]
        let (first, second) = (
            try await startNode("node-a", redis: redis, in: dir, auth + firstArguments), try await startNode("node-b", redis: redis, in: dir, auth)
        )
        for node in [first, second] { try await waitUntilSharing(node) }
        let token = try await TestTokens.expiring(user: "alice", at: Date().addingTimeInterval(3_600))
        let (alice, aliceID) = try await connect(second.broker.webSocketURL + "?token=\(token)", subscribing: [("stock", "600519")])
        try await waitUntilKnown(first, knows: second)
        return (first, second, alice, aliceID)
    }

    /// Waits until `node` shows `other` in `GET /api/cluster` (it heard its heartbeat).
    /// What node `node` publishes on `ticks:removals` in answer to `request`, published there by
    /// the test (as another node would), read by a `redis-cli` subscriber; empty when nothing came
    /// in 10 s.
    private func answerOnRedis(_ redis: RedisProcess, from node: String, to request: String) async throws -> [String: Any] {
        let subscriber = Process()
        subscriber.executableURL = URL(fileURLWithPath: "/usr/bin/redis-cli")
        subscriber.arguments = ["-p", "\(redis.port)", "SUBSCRIBE", "ticks:removals"]
        let output = Pipe()
        subscriber.standardOutput = output
        // Counted before it starts: it may have subscribed by the time a count after its start is read.
        let before = Int(try redis.cli("PUBSUB", "NUMSUB", "ticks:removals").split(separator: "\n").last ?? "") ?? 0
        try subscriber.run()
        defer { subscriber.terminate() }
        for _ in 0..<400 where (Int(try redis.cli("PUBSUB", "NUMSUB", "ticks:removals").split(separator: "\n").last ?? "") ?? 0) <= before {
            try await Task.sleep(for: .milliseconds(25))
        }
        try redis.cli("PUBLISH", "ticks:removals", request)
        // Ends the read at the latest 10 s on: the subscriber's end closes its output.
        let stop = Task.detached {
            try? await Task.sleep(for: .seconds(10))
            subscriber.terminate()
        }
        defer { stop.cancel() }
        // Read on a thread of its own: a blocking read on one of the few threads the tests' tasks
        // share would hold up every other test meanwhile.
        let line = await withCheckedContinuation { (found: CheckedContinuation<String?, Never>) in
            Thread.detachNewThread {
                var text = ""
                while true {
                    let data = output.fileHandleForReading.availableData
                    if data.isEmpty { return found.resume(returning: nil) }
                    text += String(decoding: data, as: UTF8.self)
                    // Whole lines only: the last may still be coming.
                    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
                    if let line = lines.first(where: { $0.contains(#""node":"\#(node)""#) && $0.contains("\"found_") }) {
                        return found.resume(returning: String(line))
                    }
                }
            }
        }
        return line.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
    }

    private func waitUntilKnown(_ node: Node, knows other: Node) async throws {
        for _ in 0..<300 {
            let (_, body) = try await HTTP.request("GET", node.broker.baseURL + "/api/cluster")
            if (body["nodes"] as? [[String: Any]] ?? []).contains(where: { $0["node"] as? String == other.id }) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw MultiNodeTestError.timeout("\(node.id) to hear of \(other.id)")
    }

    @Test func anyNodeShowsTheClusterByTheNodesHeartbeatsAndForgetsANodeThatStops() async throws {
        let redis = try await RedisProcess()
        let dir = try TemporaryDirectory()
        let first = try await startNode("node-a", redis: redis, in: dir)
        let second = try await startNode("node-b", redis: redis, in: dir, ["--shutdown-drain", "2"])
        for node in [first, second] { try await waitUntilSharing(node) }
        // Three clients, so that the second's drain (over 2 s) lasts until the last is closed.
        var clients: [TestWebSocket] = []
        for _ in 0..<3 { clients.append(try await connect(second.broker.webSocketURL, subscribing: [("stock", "600519")]).0) }
        func cluster(_ node: Node) async throws -> [[String: Any]] {
            let (status, body) = try await HTTP.request("GET", node.broker.baseURL + "/api/cluster")
            #expect(status == 200, "\(body)")
            return body["nodes"] as? [[String: Any]] ?? []
        }
        // The second's first heartbeat may leave before its client connected: the next one has it.
        var seen: [[String: Any]] = []
        for _ in 0..<300 {
            seen = try await cluster(first)
            if seen.count == 2, seen[1]["connections"] as? Int == 3 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(seen.map { $0["node"] as? String } == ["node-a", "node-b"], "\(seen)")
        #expect(seen.map { $0["this_node"] as? Bool } == [true, false], "\(seen)")
        #expect(seen.last?["connections"] as? Int == 3 && seen.last?["state"] as? String == "serving", "\(seen)")
        #expect((seen.last?["journal_seq"] as? Int ?? 0) > 0 && (seen.last?["last_heard_seconds"] as? Double ?? 99) < 6, "\(seen)")
        #expect(seen.map { $0["clock_offset_seconds"] as? Double } == [0, seen.last?["clock_offset_seconds"] as? Double], "\(seen)")
        #expect(abs(seen.last?["clock_offset_seconds"] as? Double ?? 99) < 5, "one clock, and a trip through Redis: \(seen)")
        let clusterMetrics = try await metricSamples(of: first.broker)
        #expect(clusterMetrics.value("brokerd_cluster_nodes", [:]) == 2)
        #expect((clusterMetrics.value("brokerd_cluster_clock_offset_max_seconds") ?? 99) < 5)

        // Draining, it says so at once; stopped, in its last heartbeat, and the first forgets it.
        second.broker.process.terminate()
        var state: String?
        for _ in 0..<100 where state != "draining" {
            state = try await cluster(first).last?["state"] as? String
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(state == "draining")
        #expect(await second.broker.waitForExit() == 0)
        for client in clients { await client.close() }
        for _ in 0..<100 where try await cluster(first).count > 1 { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try await cluster(first).map { $0["node"] as? String } == ["node-a"])

        // A heartbeat sent a minute ago (delayed, or replayed) is no sign of life: left out, and said so.
        let minuteAgo = Int64(Date().timeIntervalSince1970 * 1_000_000) - 60_000_000
        _ = try redis.cli(
            "PUBLISH", "ticks:nodes",
            #"{"node":"node-old","instance":"0000000000000001","heartbeat":{"state":"serving","connections":1,"sessions":1,"ticks_per_second":0,"journal_seq":1,"started_at":\#(minuteAgo),"sent_at":\#(minuteAgo)}}"#)
        let heardOf = "a node's heartbeat sent too far from this node's clock is left out"
        for _ in 0..<200 where !first.broker.logText.contains(heardOf) { try await Task.sleep(for: .milliseconds(20)) }
        #expect(first.broker.logText.contains(heardOf) && first.broker.logText.contains("node-old"))
        #expect(try await cluster(first).map { $0["node"] as? String } == ["node-a"])
        // Times at Int64's ends are refused as malformed: before, the cluster's uptime of such a
        // node (sent_at minus started_at) overflowed, and the broker crashed on GET /api/cluster.
        _ = try redis.cli(
            "PUBLISH", "ticks:nodes",
            #"{"node":"node-far","instance":"1","heartbeat":{"state":"serving","connections":1,"sessions":1,"ticks_per_second":0,"journal_seq":1,"started_at":-1,"sent_at":9223372036854775807}}"#)
        try await waitForStats(first, "the heartbeat counted as malformed") { stats in
            ((stats["redis"] as? [String: Any])?["malformed"] as? Int ?? 0) >= 1
        }
        #expect(try await cluster(first).map { $0["node"] as? String } == ["node-a"])
        #expect(await first.broker.terminate() == 0)
    }
}

enum MultiNodeTestError: Error {
    case timeout(String)
}
