import Broker
import Foundation
import Testing

@testable import Publishers

/// The JSON nodes exchange on the shared channels: tags, round trips, and what external feeders may send.
struct SharedMessageCodecTests {
    private let origin = NodeOrigin(node: "node-a", instance: "00000000000000aa")
    private let decoder = TickPayloadDecoder(limits: Limits())

    private func object(_ bytes: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    }

    @Test func sharedTicksAreTaggedAndKeepTheOriginsTimestamps() throws {
        let ticks = [
            FedTick(code: "600519", name: "贵州茅台", price: 1850.5, volume: 12, prevClose: 1825.2, timestamp: 1_700_000_000_000_001),
            FedTick(code: "000001", name: "平安银行", price: 11, volume: 0, prevClose: 0, timestamp: 1_700_000_000_000_002),
            // What the feeder left out stays out: each node fills it in from what it knows.
            FedTick(code: "600000", price: 9.5, timestamp: 1_700_000_000_000_003),
        ]
        let message = SharedMessageCodec.encode(.ticks(ticks), origin: origin)

        let json = try object(message)
        #expect(json["node"] as? String == "node-a" && json["instance"] as? String == "00000000000000aa")
        #expect(Set(((json["ticks"] as? [[String: Any]])?.last ?? [:]).keys) == ["code", "price", "timestamp"])
        let outcome = decoder.decode(json: message, timestamp: 1_700_000_000_000_000)
        #expect(outcome.origin == origin)
        #expect(outcome.problems.isEmpty)
        #expect(outcome.ticks == ticks, "every field sent, the origin's timestamps included")
    }

    @Test func aTaggedTickStampedBefore2000IsRefused() {
        let outcome = decoder.decode(
            json: Array(#"{"ticks":[{"code":"600519","price":2,"timestamp":1},{"code":"000001","price":3,"timestamp":1700000000000000}],"node":"Z","instance":"x"}"#.utf8),
            timestamp: 1_700_000_000_000_000)
        #expect(outcome.ticks.map(\.code) == ["000001"])
        #expect(outcome.problems == ["tick '600519' has timestamp 1, before 2000 in microseconds"])
    }

    /// A peer whose clock runs ahead: kept, its tick would hold the code's bars back until this
    /// clock reached it. Within the 5 s clocks may differ, it is kept.
    @Test func aTaggedTickStampedMoreThan5SecondsAheadOfThisClockIsRefused() {
        let now: Int64 = 1_700_000_000_000_000
        let outcome = decoder.decode(
            json: Array(#"{"ticks":[{"code":"600519","price":2,"timestamp":1700000600000000},{"code":"000001","price":3,"timestamp":1700000005000000},{"code":"600000","price":4,"timestamp":4070908800000000}],"node":"Z","instance":"x"}"#.utf8),
            timestamp: now)
        #expect(outcome.ticks.map(\.code) == ["000001"])
        #expect(outcome.problems == [
            "tick '600519' has timestamp 1700000600000000, 600 s ahead of this node's clock (more than 5 s): the nodes' clocks differ; keep them in sync (NTP)",
            "tick '600000' has timestamp 4070908800000000, 2370908800 s ahead of this node's clock (more than 5 s): the nodes' clocks differ; keep them in sync (NTP)",
        ])
    }

    @Test func aFeedersTicksStayUntaggedAndTheirTimestampFieldIsIgnoredWhateverItsShape() {
        let outcome = decoder.decode(
            json: Array(#"{"ticks":[{"code":"600519","price":12.5,"timestamp":"2026-11-23 09:30"},{"code":"000001","price":11,"timestamp":1700000000}]}"#.utf8),
            timestamp: 42)
        #expect(outcome.origin == nil)
        #expect(outcome.problems.isEmpty)
        #expect(outcome.ticks.map(\.timestamp) == [42, 42], "stamped on receipt, as before")
    }

    /// JSONDecoder would keep one of the two prices without a word; the feeder's mistake is refused
    /// and reported instead, and nothing of the message is ingested.
    @Test(arguments: [
        #"{"code":"600519","price":1850,"price":18.5}"#,
        #"[{"code":"600519","price":1850},{"code":"000001","price":11,"\u0063ode":"000002"}]"#,
        #"{"ticks":[{"code":"600519","price":1850}],"ticks":[]}"#,
    ])
    func aTickMessageWithARepeatedKeyIsRefusedWhole(_ text: String) {
        let outcome = decoder.decode(json: Array(text.utf8), timestamp: 42)
        #expect(outcome.ticks.isEmpty)
        #expect(outcome.problems.count == 1 && outcome.problems[0].contains("appears twice"), "\(outcome.problems)")
    }

    @Test func aNewsMessageWithARepeatedKeyIsRefused() {
        #expect(throws: SharedMessageError.self) {
            try SharedMessageCodec.decodeNews(Array(#"{"news":{"title":"a","title":"b"}}"#.utf8), channel: "ticks:news", now: 42)
        }
    }

    @Test func newsRoundTripsWithItsTags() throws {
        let item = NewsItem(
            id: "n-42", title: "贵州茅台 Q3", summary: "up", url: "https://example.com/n/42", codes: ["600519"],
            category: "company", publishedAt: 1_700_000_000_000_000)
        let message = SharedMessageCodec.encode(.news(item), origin: origin)

        let decoded = try SharedMessageCodec.decodeNews(message, channel: "ticks:news", now: 42)
        #expect(decoded.origin == origin)
        #expect(decoded.update == .news(item))
        #expect(String(decoding: message, as: UTF8.self).contains("https://example.com/n/42"), "slashes unescaped")
    }

    @Test func aNewsItemPublishedAtInSecondsOrMillisecondsIsRefused() throws {
        for publishedAt in ["1796432912", "1796432912000"] {
            let message = Array(#"{"news":{"id":"n-1","title":"秒级时间","published_at":\#(publishedAt)}}"#.utf8)
            #expect {
                try SharedMessageCodec.decodeNews(message, channel: "ticks:news", now: 42)
            } throws: { error in
                "\(error)".contains("before 2000 in microseconds")
            }
        }
        let microseconds = Array(#"{"news":{"id":"n-1","title":"t","published_at":1796432912000000}}"#.utf8)
        #expect(throws: Never.self) { try SharedMessageCodec.decodeNews(microseconds, channel: "ticks:news", now: 42) }
    }

    @Test func anExternalNewsItemGetsTheDefaultsOfTheHTTPRoute() throws {
        let decoded = try SharedMessageCodec.decodeNews(
            Array(#"{"news":{"id":"n-7","title":"Rates unchanged"}}"#.utf8), channel: "ticks:news", now: 42)
        #expect(decoded.origin == nil)
        #expect(decoded.update == .news(NewsItem(id: "n-7", title: "Rates unchanged", summary: "", url: "", codes: [], category: "general", publishedAt: 42)))
    }

    @Test func anExternalNewsItemWithoutAnIdGetsOneEveryNodeDerivesAlike() throws {
        let message = Array(#"{"news":{"title":"no id"}}"#.utf8)
        let first = try SharedMessageCodec.decodeNews(message, channel: "ticks:news", now: 42)
        let second = try SharedMessageCodec.decodeNews(message, channel: "ticks:news", now: 99)
        let other = try SharedMessageCodec.decodeNews(Array(#"{"news":{"title":"another"}}"#.utf8), channel: "ticks:news", now: 42)
        guard case .news(let item) = first.update, case .news(let again) = second.update, case .news(let another) = other.update else {
            Issue.record("not news: \(first.update)")
            return
        }
        #expect(item.id.hasPrefix("news_") && item.id.count == "news_".count + 16, "\(item.id)")
        #expect(again.id == item.id, "the same message: the same id on every node, at any time")
        #expect(another.id != item.id)
        #expect(item.title == "no id" && item.category == "general")
    }

    @Test func alertRuleChangesRoundTrip() throws {
        let rule = AlertRule(id: "rule_1", user: "alice", code: "600519", condition: .changePercent, threshold: 2.5)
        for update in [SharedUpdate.alertRuleSet(rule), .alertRuleRemoved(ruleID: "rule_1", user: "alice")] {
            let decoded = try SharedMessageCodec.decodeAlerts(SharedMessageCodec.encode(update, origin: origin), channel: "ticks:alerts")
            #expect(decoded.origin == origin)
            #expect(decoded.update == update)
        }
    }

    @Test(arguments: [
        "not json",
        #"{"node":"a"}"#,
        #"{"set":{"id":"r","user":"u","code":"600519","condition":"above","threshold":1},"removed":{"rule_id":"r","user":"u"}}"#,
        #"{"set":{"id":"r","user":"u","code":"600519","condition":"sideways","threshold":1}}"#,
    ])
    func aMalformedAlertsMessageIsRefusedWithTheReason(_ text: String) {
        #expect(throws: SharedMessageError.self) {
            try SharedMessageCodec.decodeAlerts(Array(text.utf8), channel: "ticks:alerts")
        }
    }

    @Test func aLoggedUpdateNamesTheLogAndItsEntryDecodesAsItsChannelsMessage() throws {
        let rule = AlertRule(id: "r", user: "u", code: "600519", condition: .above, threshold: 1)
        let bar = KlineBar(code: "600519", period: "1d", open: 1, high: 2, low: 1, close: 2, volume: 3, start: 1_700_000_000_000_000, closed: true)
        let updates: [(SharedUpdate, String)] = [
            (.news(NewsItem(id: "n", title: "t", summary: "", url: "", codes: ["600519"], category: "macro", publishedAt: 1_700_000_000_000_000)), "news"),
            (.alertRuleSet(rule), "alerts"), (.alertRuleRemoved(ruleID: "r", user: "u"), "alerts"),
            (.signalsReplaced(strategy: "vw", signals: [Signal(code: "600519", name: "贵州茅台")]), "signals"), (.bars([bar]), "klines"),
        ]
        for (update, kind) in updates {
            let message = SharedMessageCodec.encode(update, origin: origin, log: "md:log")
            let json = try object(message)
            #expect(json["log"] as? String == "md:log" && json["node"] as? String == "node-a", "\(json)")
            #expect(SharedMessageCodec.isLogged(message))
            #expect(!SharedMessageCodec.isLogged(SharedMessageCodec.encode(update, origin: origin)))

            let entry = try #require(SharedMessageCodec.logEntry(update, origin: origin, log: "md:log"))
            #expect(entry.map(\.0) == ["kind", "message"] && entry[0].1 == Array(kind.utf8))
            // Key order is not fixed from one encoding to the next.
            #expect(NSDictionary(dictionary: try object(entry[1].1)) == NSDictionary(dictionary: json), "the logged message")
            let fields = Dictionary(uniqueKeysWithValues: entry.map { ($0.0, String(decoding: $0.1, as: UTF8.self)) })
            let decoded = try SharedMessageCodec.decodeLogEntry(fields, log: "md:log", now: 1_700_000_000_000_000)
            #expect(decoded.origin == origin && decoded.update == update)
        }
        #expect(SharedMessageCodec.logEntry(.ticks([]), origin: origin, log: "md:log") == nil, "ticks are not logged")
    }

    @Test(arguments: [
        ([:], "an entry needs a \"kind\" field, one of news, alerts, signals, klines; got none"),
        (["kind": "ticks", "message": "{}"], "an entry needs a \"kind\" field, one of news, alerts, signals, klines; got \"ticks\""),
        (["kind": "news"], "a news entry needs a \"message\" field"),
    ])
    func aLogEntryWithoutAKnownKindOrAMessageIsRefused(_ fields: [String: String], _ reason: String) {
        #expect(throws: SharedMessageError(channel: "md:log", reason: reason)) {
            try SharedMessageCodec.decodeLogEntry(fields, log: "md:log", now: 0)
        }
    }

    @Test func eachUpdateTravelsOnItsOwnChannel() {
        let channels = SharedChannels(tickChannel: "md")
        let rule = AlertRule(id: "r", user: "u", code: "600519", condition: .above, threshold: 1)
        #expect(SharedUpdate.ticks([]).channel(in: channels) == "md")
        #expect(SharedUpdate.news(NewsItem(id: "n", title: "t", summary: "", url: "", codes: [], category: "", publishedAt: 0)).channel(in: channels) == "md:news")
        #expect(SharedUpdate.alertRuleSet(rule).channel(in: channels) == "md:alerts")
        #expect(SharedUpdate.alertRuleRemoved(ruleID: "r", user: "u").channel(in: channels) == "md:alerts")
        #expect(SharedUpdate.signalsReplaced(strategy: "vw", signals: []).channel(in: channels) == "md:signals")
        #expect(SharedUpdate.bars([]).channel(in: channels) == "md:klines")
        #expect(SharedUpdate.userRemoved(UserRemoval(user: "u", endingSessions: true, requestedAt: 0)).channel(in: channels) == "md:removals")
    }

    @Test func onlyRequestsToOtherNodesHaveAKind() {
        let rule = AlertRule(id: "r", user: "u", code: "600519", condition: .above, threshold: 1)
        let heartbeat = NodeHeartbeat(origin: origin, state: .serving, connections: 0, sessions: 0, ticksPerSecond: 0, journalSeq: 0, startedAt: 0, sentAt: 0)
        let others: [SharedUpdate] = [
            .ticks([]), .alertRuleSet(rule), .alertRuleRemoved(ruleID: "r", user: "u"), .signalsReplaced(strategy: "vw", signals: []), .bars([]),
            .userRemovalAnswered(UserRemovalAnswer(requestID: "r", askedOn: "a", node: "b", user: "u", clients: [])), .nodeHeartbeat(heartbeat),
        ]
        #expect(others.allSatisfy { $0.requestKind == nil })
    }

    @Test func aUsersRemovalRoundTripsNamingTheNodeAskedAndIsNeitherLoggedNorACommand() throws {
        for endingSessions in [true, false] {
            let removal = UserRemoval(user: "alice", endingSessions: endingSessions, requestedAt: 1_700_000_000_000_001, requestedOn: "node-a")
            let message = SharedMessageCodec.encode(.userRemoved(removal), origin: origin)
            let json = try object(message)
            #expect(json["node"] as? String == "node-a", "\(json)")
            #expect((json["remove_user"] as? [String: Any])?["session"] as? String == (endingSessions ? "end" : "keep"))
            #expect(SharedUpdate.userRemoved(removal).requestKind == "remove_user")
            let decoded = try SharedMessageCodec.decodeRemovals(message, channel: "md:removals", now: 0)
            #expect(decoded.origin == origin && decoded.update == .userRemoved(removal))
            #expect(SharedUpdate.userRemoved(removal).command == nil)
            #expect(SharedMessageCodec.logEntry(.userRemoved(removal), origin: origin, log: "md:log") == nil)
        }
    }

    /// The node asked names the request; each other node answers it with what it removed, on the
    /// same channel, naming the node asked (the only one that takes the answer).
    @Test func aRemovalsRequestAndAnAnswerToItRoundTrip() throws {
        let removal = UserRemoval(user: "alice", endingSessions: true, requestedAt: 1_700_000_000_000_001, requestedOn: "node-a", requestID: "0123456789abcdef")
        let asked = try SharedMessageCodec.decodeRemovals(SharedMessageCodec.encode(.userRemoved(removal), origin: origin), channel: "md:removals", now: 0)
        #expect(asked.update == .userRemoved(removal))

        let fromB = NodeOrigin(node: "node-b", instance: "b1")
        var answer = try #require(removal.answer(from: "node-b"))
        #expect(answer == UserRemovalAnswer(requestID: "0123456789abcdef", askedOn: "node-a", node: "node-b", user: "alice", clients: []))
        answer.clients = ["client_0000000a", "client_0000000b"]
        for error in [nil, "disconnect_pending: not journaled within 5 s"] {
            answer.error = error
            let message = SharedMessageCodec.encode(.userRemovalAnswered(answer), origin: fromB)
            #expect((try object(message)["removed_user"] as? [String: Any])?["asked_on"] as? String == "node-a")
            let decoded = try SharedMessageCodec.decodeRemovals(message, channel: "md:removals", now: 0)
            #expect(decoded.origin == fromB && decoded.update == .userRemovalAnswered(answer))
        }
        #expect(SharedUpdate.userRemovalAnswered(answer).command == nil)
        #expect(SharedUpdate.userRemovalAnswered(answer).channel(in: SharedChannels(tickChannel: "md")) == "md:removals")
        #expect(SharedMessageCodec.logEntry(.userRemovalAnswered(answer), origin: fromB, log: "md:log") == nil)
        // Nobody waits for an answer to a removal that names no request or no node asked.
        #expect(UserRemoval(user: "alice", endingSessions: true, requestedAt: 0, requestedOn: "node-a").answer(from: "node-b") == nil)
        #expect(UserRemoval(user: "alice", endingSessions: true, requestedAt: 0, requestID: "r").answer(from: "node-b") == nil)
    }

    /// A session the node asked did not have: the others are asked, each answers, the one that had
    /// it with what it did or why it could not.
    @Test func aSessionsRemovalAndTheAnswersToItRoundTrip() throws {
        for endingSession in [true, false] {
            let removal = SessionRemoval(
                clientID: "client_0000000a", endingSession: endingSession, requestedAt: 1_700_000_000_000_001, requestedOn: "node-a",
                requestID: "0123456789abcdef")
            let message = SharedMessageCodec.encode(.sessionRemoved(removal), origin: origin)
            #expect((try object(message)["remove_client"] as? [String: Any])?["session"] as? String == (endingSession ? "end" : "keep"))
            #expect(SharedUpdate.sessionRemoved(removal).requestKind == "remove_client")
            let decoded = try SharedMessageCodec.decodeRemovals(message, channel: "md:removals", now: 0)
            #expect(decoded.origin == origin && decoded.update == .sessionRemoved(removal))
        }
        let removal = SessionRemoval(clientID: "client_0000000a", endingSession: true, requestedAt: 1, requestedOn: "node-a", requestID: "r1")
        let notHere = try #require(removal.answer(from: "node-b"))
        #expect(!notHere.hadSession)
        let removed = SessionRemovalAnswer(
            requestID: "r1", askedOn: "node-a", node: "node-b", clientID: "client_0000000a",
            removed: .init(user: "alice", disconnected: true, sessionEnded: true, seq: 42))
        let refused = SessionRemovalAnswer(
            requestID: "r1", askedOn: "node-a", node: "node-b", clientID: "client_0000000a",
            refused: .init(status: 409, error: "client_not_connected", details: "no connection"))
        let fromB = NodeOrigin(node: "node-b", instance: "b1")
        for answer in [notHere, removed, refused] {
            let message = SharedMessageCodec.encode(.sessionRemovalAnswered(answer), origin: fromB)
            let decoded = try SharedMessageCodec.decodeRemovals(message, channel: "md:removals", now: 0)
            #expect(decoded.origin == fromB && decoded.update == .sessionRemovalAnswered(answer))
        }
        #expect(removed.hadSession && refused.hadSession)
        #expect(SharedUpdate.sessionRemovalAnswered(removed).requestKind == nil)
        for update in [SharedUpdate.sessionRemoved(removal), .sessionRemovalAnswered(removed)] {
            #expect(update.command == nil)
            #expect(update.channel(in: SharedChannels(tickChannel: "md")) == "md:removals")
            #expect(SharedMessageCodec.logEntry(update, origin: fromB, log: "md:log") == nil)
        }
        // An operator's tool may publish one untagged: acted on, not answered.
        let untagged = try SharedMessageCodec.decodeRemovals(
            Array(#"{"remove_client":{"client_id":"client_0000000b","session":"keep"}}"#.utf8), channel: "md:removals", now: 42)
        let expected = SessionRemoval(clientID: "client_0000000b", endingSession: false, requestedAt: 42)
        #expect(untagged.origin == nil && untagged.update == .sessionRemoved(expected))
        #expect(expected.answer(from: "node-b") == nil)
    }

    /// A session the node asked did not have, or a user's connections, looked up: every node
    /// answers, those that have them with them as their API shows them.
    @Test(arguments: [
        ("find_client", "found_client", "client_id" as String?, SessionLookup.Target.client("client_0000000a")), ("find_user", "found_user", "user", .user("alice")),
        ("find_subscribers", "found_subscribers", "target", .subscribers(type: nil, target: "600519")),
        ("find_connections", "found_connections", nil, .connections), ("find_subscriptions", "found_subscriptions", nil, .subscriptions(type: nil)),
    ])
    func aLookupAndTheAnswersToItRoundTrip(_ key: String, _ answerKey: String, _ field: String?, _ target: SessionLookup.Target) throws {
        let lookup = SessionLookup(target, requestedOn: "node-a", requestID: "r1")
        let message = SharedMessageCodec.encode(.sessionLookedUp(lookup), origin: origin)
        let json = try object(message)
        let named = field.map { [$0: target.value] } ?? [:]
        #expect(json[key] as? [String: String] == named.merging(["request_id": "r1"]) { $1 }, "\(json)")
        let typed = SessionLookup(.subscribers(type: .stock, target: "600519"), requestedOn: "node-a", requestID: "r2")
        let typedMessage = SharedMessageCodec.encode(.sessionLookedUp(typed), origin: origin)
        #expect((try object(typedMessage)["find_subscribers"] as? [String: String])?["type"] == "stock")
        #expect(try SharedMessageCodec.decodeRemovals(typedMessage, channel: "md:removals", now: 0).update == .sessionLookedUp(typed))
        let typedAll = SessionLookup(.subscriptions(type: .news), requestedOn: "node-a", requestID: "r3")
        let typedAllMessage = SharedMessageCodec.encode(.sessionLookedUp(typedAll), origin: origin)
        #expect(try object(typedAllMessage)["find_subscriptions"] as? [String: String] == ["type": "news", "request_id": "r3"])
        #expect(try SharedMessageCodec.decodeRemovals(typedAllMessage, channel: "md:removals", now: 0).update == .sessionLookedUp(typedAll))
        let typedAllAnswer = SessionLookupAnswer(requestID: "r3", askedOn: "node-a", node: "node-b", target: .subscriptions(type: .news), body: "{}")
        let typedAllAnswerMessage = SharedMessageCodec.encode(.sessionLookupAnswered(typedAllAnswer), origin: NodeOrigin(node: "node-b", instance: "b1"))
        #expect(try SharedMessageCodec.decodeRemovals(typedAllAnswerMessage, channel: "md:removals", now: 0).update == .sessionLookupAnswered(typedAllAnswer))
        let decoded = try SharedMessageCodec.decodeRemovals(message, channel: "md:removals", now: 0)
        #expect(decoded.origin == origin && decoded.update == .sessionLookedUp(lookup))
        // A page of every connection: each node's oldest rows only.
        let page = SessionLookup(.connections, requestedOn: "node-a", requestID: "r4", first: 30)
        let pageMessage = SharedMessageCodec.encode(.sessionLookedUp(page), origin: origin)
        #expect((try object(pageMessage)["find_connections"] as? [String: Any])?["first"] as? Int == 30)
        #expect(try SharedMessageCodec.decodeRemovals(pageMessage, channel: "md:removals", now: 0).update == .sessionLookedUp(page))
        // Rows with their subscriptions' count alone, of every connection and of a user's.
        for counted in [
            SessionLookup(.connections, requestedOn: "node-a", requestID: "r5", first: 30, countsSubscriptions: true),
            SessionLookup(.user("alice"), requestedOn: "node-a", requestID: "r6", countsSubscriptions: true),
        ] {
            let countedMessage = SharedMessageCodec.encode(.sessionLookedUp(counted), origin: origin)
            let wire = try object(countedMessage)
            #expect(((wire["find_connections"] ?? wire["find_user"]) as? [String: Any])?["subscriptions"] as? String == "count", "\(wire)")
            #expect(try SharedMessageCodec.decodeRemovals(countedMessage, channel: "md:removals", now: 0).update == .sessionLookedUp(counted))
        }
        #expect((try object(pageMessage)["find_connections"] as? [String: Any])?["subscriptions"] == nil, "not named when the lists are wanted")
        // Metrics name the request by its wire key; an answer is not a request.
        #expect(SharedUpdate.sessionLookedUp(lookup).requestKind == key)

        let fromB = NodeOrigin(node: "node-b", instance: "b1")
        let notHere = lookup.answer(from: "node-b")
        var found = notHere
        found.body = #"{"session":{"client_id":"client_0000000a"}}"#
        var tooLarge = notHere
        tooLarge.error = "the answer takes 2000000 bytes"
        #expect(!notHere.hasSession && found.hasSession && tooLarge.hasSession)
        for answer in [notHere, found, tooLarge] {
            let message = SharedMessageCodec.encode(.sessionLookupAnswered(answer), origin: fromB)
            let answerJSON = try object(message)[answerKey] as? [String: Any]
            #expect(answerJSON?["asked_on"] as? String == "node-a" && field.map { answerJSON?[$0] as? String == target.value } ?? true)
            let decoded = try SharedMessageCodec.decodeRemovals(message, channel: "md:removals", now: 0)
            #expect(decoded.origin == fromB && decoded.update == .sessionLookupAnswered(answer))
        }
        #expect(SharedUpdate.sessionLookupAnswered(found).requestKind == nil)
        for update in [SharedUpdate.sessionLookedUp(lookup), .sessionLookupAnswered(found)] {
            #expect(update.command == nil)
            #expect(update.channel(in: SharedChannels(tickChannel: "md")) == "md:removals")
            #expect(SharedMessageCodec.logEntry(update, origin: fromB, log: "md:log") == nil)
        }
    }

    @Test func anOperatorsToolMayPublishAUsersRemovalUntagged() throws {
        let decoded = try SharedMessageCodec.decodeRemovals(Array(#"{"remove_user":{"user":"bob"}}"#.utf8), channel: "md:removals", now: 42)
        #expect(decoded.origin == nil)
        #expect(decoded.update == .userRemoved(UserRemoval(user: "bob", endingSessions: true, requestedAt: 42, requestedOn: nil)))
    }

    @Test(arguments: [
        ("not json", "expected"),
        (#"{"remove_user":{}}"#, "expected"),
        (#"{"remove_user":{"user":""}}"#, "user is empty"),
        (#"{"remove_user":{"user":"\#(String(repeating: "u", count: 65))"}}"#, "user is 65 characters long"),
        (#"{"remove_user":{"user":"a\u0007b"}}"#, "user contains control characters"),
        (#"{"remove_user":{"user":"bob","session":"forever"}}"#, "session must be end or keep"),
        (#"{"remove_user":{"user":"bob","user":"alice"}}"#, "appears twice"),
        (#"{"remove_user":{"user":"bob","request_id":""}}"#, "request_id is empty"),
        (#"{"remove_user":{"user":"bob","requested_at":-9223372036854775808}}"#, "remove_user: requested_at is -9223372036854775808, not microseconds"),
        (#"{"remove_client":{"client_id":"c","requested_at":-1}}"#, "remove_client: requested_at is -1"),
        (#"{"node":"n"}"#, "needs exactly one of"),
        (#"{"node":"n","remove_user":{"user":"bob"},"removed_user":{"request_id":"r","asked_on":"a","user":"bob","clients":[]}}"#, "needs exactly one of"),
        (#"{"removed_user":{"request_id":"r","asked_on":"a","user":"bob","clients":[]}}"#, "an answer names its node"),
        (#"{"node":"","remove_user":{"user":"bob"}}"#, "node is empty"),
        (#"{"node":"n","removed_user":{"request_id":"r","asked_on":"","user":"bob","clients":[]}}"#, "asked_on is empty"),
        (#"{"node":"n","removed_user":{"request_id":"r","asked_on":"a","user":"bob","clients":["client_1","a\u0007b"]}}"#, "clients[1] is not a client id"),
        (#"{"node":"n","removed_user":{"request_id":"r","asked_on":"a","user":"bob","clients":[],"error":"\#(String(repeating: "e", count: 1_001))"}}"#, "error longer than 1000"),
        (#"{"node":"n","removed_user":{"request_id":"r","asked_on":"a","user":"bob","clients":[\#(Array(repeating: "\"c\"", count: 10_001).joined(separator: ","))]}}"#, "more than 10000 clients"),
        (#"{"node":"\#(String(repeating: "n", count: 65))","removed_user":{"request_id":"r","asked_on":"a","user":"bob","clients":[]}}"#, "node is 65 characters long"),
        (#"{"node":"n","removed_user":{"request_id":"r","user":"bob","clients":[]}}"#, "expected"),
        (#"{"remove_client":{"client_id":""}}"#, "remove_client: client_id is empty"),
        (#"{"remove_client":{"client_id":"c","session":"never"}}"#, "remove_client: session must be end or keep"),
        (#"{"remove_client":{"client_id":"c","request_id":"a\u0007b"}}"#, "remove_client: request_id contains control characters"),
        (#"{"node":"n","remove_client":{"client_id":"c"},"remove_user":{"user":"bob"}}"#, "needs exactly one of"),
        (#"{"removed_client":{"request_id":"r","asked_on":"a","client_id":"c"}}"#, "removed_client: an answer names its node"),
        (#"{"node":"n","removed_client":{"request_id":"r","asked_on":"","client_id":"c"}}"#, "removed_client: asked_on is empty"),
        (#"{"node":"n","removed_client":{"request_id":"r","asked_on":"a","client_id":"\#(String(repeating: "c", count: 65))"}}"#, "client_id is not a client id"),
        (#"{"node":"n","removed_client":{"request_id":"r","asked_on":"a","client_id":"c","removed":{"user":"","disconnected":true,"session_ended":true,"seq":1}}}"#, "removed.user is not a user"),
        (#"{"node":"n","removed_client":{"request_id":"r","asked_on":"a","client_id":"c","refused":{"status":200,"error":"ok","details":""}}}"#, "a status from 400 to 599"),
        (#"{"node":"n","removed_client":{"request_id":"r","asked_on":"a","client_id":"c","removed":{"disconnected":true,"session_ended":true,"seq":1},"refused":{"status":409,"error":"e","details":""}}}"#, "not both"),
        (#"{"node":"n","removed_client":{"request_id":"r","asked_on":"a","client_id":"c","refused":{"status":409,"error":"a\u0007b","details":""}}}"#, "an error code"),
        (#"{"node":"n","removed_client":{"request_id":"r","asked_on":"a","client_id":"c","refused":{"status":409,"error":"e","details":"\#(String(repeating: "d", count: 1_001))"}}}"#, "at most 1000 characters"),
        (#"{"find_client":{"client_id":"c","request_id":"r"}}"#, "name their node"),
        (#"{"node":"n","find_client":{"client_id":"c"}}"#, "expected"),
        (#"{"node":"n","find_client":{"client_id":"","request_id":"r"}}"#, "find_client: client_id must be an id"),
        (#"{"node":"n","find_client":{"user":"alice","request_id":"r"}}"#, "find_client: client_id must be an id"),
        (#"{"node":"n","find_user":{"user":"a\u0007b","request_id":"r"}}"#, "find_user: user must be an id"),
        (#"{"node":"n","find_user":{"user":"alice","request_id":""}}"#, "find_user: request_id is not a request id"),
        (#"{"node":"n","find_user":{"user":"alice","request_id":"r"},"find_client":{"client_id":"c","request_id":"r"}}"#, "needs exactly one of"),
        (#"{"node":"n","found_user":{"request_id":"r","asked_on":"a"}}"#, "found_user: user must be an id"),
        (#"{"node":"n","found_user":{"request_id":"r","asked_on":"a","user":"alice","body":"x"}}"#, "found_user: body must be a JSON object"),
        (#"{"node":"n","find_subscribers":{"type":"stocks","target":"600519","request_id":"r"}}"#, "find_subscribers: type must be a subscription type"),
        (#"{"node":"n","find_subscribers":{"type":"stock","request_id":"r"}}"#, "find_subscribers: target must be an id"),
        (#"{"node":"n","found_subscribers":{"request_id":"r","asked_on":"a","target":""}}"#, "found_subscribers: target must be an id"),
        (#"{"node":"n","find_subscriptions":{"type":"stocks","request_id":"r"}}"#, "find_subscriptions: type must be a subscription type"),
        (#"{"node":"n","find_subscriptions":{"request_id":"a\u0007b"}}"#, "find_subscriptions: request_id is not a request id"),
        (#"{"node":"n","found_subscriptions":{"request_id":"r","asked_on":"a","type":"x"}}"#, "found_subscriptions: type must be a subscription type"),
        (#"{"node":"n","found_subscriptions":{"request_id":"r","asked_on":"a","body":"[]"}}"#, "found_subscriptions: body must be a JSON object"),
        (#"{"node":"n","find_subscriptions":{"request_id":"r"},"find_subscribers":{"target":"t","request_id":"r"}}"#, "needs exactly one of"),
        (#"{"node":"n","find_connections":{"request_id":"r","first":0}}"#, "find_connections: first must be from 1 to 10000000"),
        (#"{"node":"n","find_user":{"user":"alice","request_id":"r","first":10}}"#, "find_user: first must be from 1 to 10000000, in find_connections only"),
        (#"{"node":"n","find_connections":{"request_id":"r","subscriptions":"list"}}"#, "find_connections: subscriptions may only be \"count\""),
        (#"{"node":"n","find_client":{"client_id":"c","request_id":"r","subscriptions":"count"}}"#, "in find_connections and find_user"),
        (#"{"node":"n","find_subscriptions":{"request_id":"r","subscriptions":"count"}}"#, "in find_connections and find_user"),
        (#"{"node":"n","find_client":{"client_id":"c","request_id":"r"},"remove_client":{"client_id":"c"}}"#, "needs exactly one of"),
        (#"{"node":"n","found_client":{"request_id":"r","asked_on":"","client_id":"c"}}"#, "found_client: asked_on is empty"),
        (#"{"node":"n","found_client":{"request_id":"r","asked_on":"a","client_id":"c","body":"[1]"}}"#, "body must be a JSON object"),
        (#"{"node":"n","found_client":{"request_id":"r","asked_on":"a","client_id":"c","body":"{\#(String(repeating: " ", count: 1 << 20))}"}}"#, "of at most 1048576 bytes"),
        (#"{"node":"n","found_client":{"request_id":"r","asked_on":"a","client_id":"c","error":"\#(String(repeating: "e", count: 1_001))"}}"#, "error longer than 1000"),
        (#"{"node":"n","found_connections":{"request_id":"r","asked_on":"a","body":"{","part":0,"parts":17}}"#, "parts must be from 1 to 16"),
        (#"{"node":"n","found_connections":{"request_id":"r","asked_on":"a","body":"{","part":0,"parts":0}}"#, "parts must be from 1 to 16"),
        (#"{"node":"n","found_connections":{"request_id":"r","asked_on":"a","body":"x","part":2,"parts":2}}"#, "part from 0 to parts - 1"),
        (#"{"node":"n","found_connections":{"request_id":"r","asked_on":"a","body":"x","part":-1,"parts":2}}"#, "part from 0 to parts - 1"),
        (#"{"node":"n","found_connections":{"request_id":"r","asked_on":"a","part":1,"parts":2}}"#, "each part must carry body"),
        (#"{"node":"n","found_connections":{"request_id":"r","asked_on":"a","body":"x","part":0,"parts":2}}"#, "body must be a JSON object (or a piece of one"),
        (#"{"node":"n","found_connections":{"request_id":"r","asked_on":"a","body":"\#(String(repeating: " ", count: 1 << 20))x","part":1,"parts":2}}"#, "of at most 1048576 bytes"),
    ])
    func aMalformedRemovalIsRefusedWithTheReason(_ text: String, _ reason: String) {
        do {
            _ = try SharedMessageCodec.decodeRemovals(Array(text.utf8), channel: "md:removals", now: 0)
            Issue.record("\(text) was taken")
        } catch {
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    @Test func aHeartbeatRoundTripsAndIsNeitherLoggedNorACommand() throws {
        let heartbeat = NodeHeartbeat(
            origin: origin, state: .draining, connections: 12, sessions: 15, ticksPerSecond: 20.5, journalSeq: 1_234,
            startedAt: 1_700_000_000_000_000, sentAt: 1_700_000_005_000_000)
        let message = SharedMessageCodec.encode(.nodeHeartbeat(heartbeat), origin: origin)
        let decoded = try SharedMessageCodec.decodeNodes(message, channel: "md:nodes")
        #expect(decoded.origin == origin && decoded.update == .nodeHeartbeat(heartbeat))
        #expect(SharedUpdate.nodeHeartbeat(heartbeat).command == nil)
        #expect(SharedMessageCodec.logEntry(.nodeHeartbeat(heartbeat), origin: origin, log: "md:log") == nil)
        #expect(SharedUpdate.nodeHeartbeat(heartbeat).channel(in: SharedChannels(tickChannel: "md")) == "md:nodes")
    }

    @Test(arguments: [
        (#"{"heartbeat":{"state":"serving","connections":1,"sessions":1,"ticks_per_second":1,"journal_seq":1,"started_at":1,"sent_at":1}}"#, "names its node"),
        (#"{"node":"b","instance":"i","heartbeat":{"state":"asleep","connections":1,"sessions":1,"ticks_per_second":1,"journal_seq":1,"started_at":1,"sent_at":1}}"#, "state must be one of serving, draining, stopped"),
        (#"{"node":"b","instance":"i","heartbeat":{"state":"serving","connections":-1,"sessions":1,"ticks_per_second":1,"journal_seq":1,"started_at":1,"sent_at":1}}"#, "numbers from 0"),
        (#"{"node":"b","instance":"i","heartbeat":{"state":"serving"}}"#, "expected"),
        (#"{"node":"b","instance":"i","heartbeat":{"state":"stopped","connections":1,"sessions":1,"ticks_per_second":1,"journal_seq":1,"started_at":1,"sent_at":-9223372036854775808}}"#, "heartbeat: sent_at is -9223372036854775808, not microseconds since 1970"),
        (#"{"node":"b","instance":"i","heartbeat":{"state":"serving","connections":1,"sessions":1,"ticks_per_second":1,"journal_seq":1,"started_at":-1,"sent_at":1}}"#, "heartbeat: started_at is -1"),
        (#"{"node":"b","instance":"i","heartbeat":{"state":"serving","connections":1,"sessions":1,"ticks_per_second":1,"journal_seq":1,"started_at":1,"sent_at":9223372036854775807}}"#, "before 2100"),
    ])
    func aMalformedHeartbeatIsRefusedWithTheReason(_ text: String, _ reason: String) {
        do {
            _ = try SharedMessageCodec.decodeNodes(Array(text.utf8), channel: "md:nodes")
            Issue.record("\(text) was taken")
        } catch {
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    @Test func aRemovalOlderThanHalfAMinuteIsStale() {
        let removal = UserRemoval(user: "u", endingSessions: true, requestedAt: 1_700_000_000_000_000)
        #expect(!removal.isStale(at: 1_700_000_030_000_000))
        #expect(removal.isStale(at: 1_700_000_030_000_001))
    }

    @Test func signalListsRoundTripAndBecomeTheCommandOfTheHTTPRoute() throws {
        let signals = [
            Signal(code: "600519", name: "贵州茅台", signalDate: "2026-11-23", reason: "volume wave"),
            Signal(code: "000001", name: "平安银行"),
        ]
        let update = SharedUpdate.signalsReplaced(strategy: "volume_wave", signals: signals)
        let decoded = try SharedMessageCodec.decodeSignals(SharedMessageCodec.encode(update, origin: origin), channel: "ticks:signals")
        #expect(decoded.origin == origin)
        #expect(decoded.update == update)
        #expect(update.command == .replaceSignals(strategy: "volume_wave", signals: signals))

        let emptied = try SharedMessageCodec.decodeSignals(Array(#"{"strategy":"vw","signals":[]}"#.utf8), channel: "ticks:signals")
        #expect(emptied.origin == nil, "an external feeder's")
        #expect(emptied.update == .signalsReplaced(strategy: "vw", signals: []), "an empty list forgets the strategy, as over HTTP")

        // The route's shape: only the code is required, and the name defaults to it.
        let external = try SharedMessageCodec.decodeSignals(Array(#"{"strategy":"s2","signals":[{"code":"600519"}]}"#.utf8), channel: "ticks:signals")
        #expect(external.update == .signalsReplaced(strategy: "s2", signals: [Signal(code: "600519", name: "600519")]))
    }

    @Test func klineBarsRoundTrip() throws {
        let bars = [
            KlineBar(code: "600519", period: "1m", open: 1850, high: 1852.5, low: 1849, close: 1851, volume: 1200, start: 1_700_000_040_000_000, closed: true),
            KlineBar(code: "600519", period: "5m", open: 1850, high: 1852.5, low: 1848, close: 1851, volume: 5200, start: 1_700_000_000_000_000, closed: false),
        ]
        let decoded = try SharedMessageCodec.decodeKlines(
            SharedMessageCodec.encode(.bars(bars), origin: origin), channel: "ticks:klines", now: 1_700_000_000_000_000)
        #expect(decoded.origin == origin)
        #expect(decoded.update == .bars(bars))
        #expect(SharedUpdate.bars(bars).command == .ingestBars(bars))
    }

    @Test(arguments: [
        ("signals", "not json"),
        ("signals", #"{"signals":[]}"#),
        ("signals", #"{"strategy":"vw","signals":[{"name":"no code"}]}"#),
        ("klines", #"{"klines":[]}"#),
        ("klines", #"{"klines":[{"code":"600519","period":"1m"}]}"#),
        ("klines", #"{"node":"a","instance":"b"}"#),
        // A start in seconds.
        ("klines", #"{"klines":[{"code":"600000","period":"1d","open":1,"high":2,"low":1,"close":1.5,"volume":10,"start":1700000000,"closed":true}]}"#),
        // A feeder's 1m bar of the next minute (the clock is 1700000000000000 here).
        ("klines", #"{"klines":[{"code":"600000","period":"1m","open":1,"high":2,"low":1,"close":1.5,"volume":10,"start":1700000040000000,"closed":true}]}"#),
    ])
    func aMalformedSignalsOrKlinesMessageIsRefusedWithTheReason(_ channel: String, _ text: String) {
        #expect(throws: SharedMessageError.self) {
            if channel == "signals" {
                try SharedMessageCodec.decodeSignals(Array(text.utf8), channel: "ticks:signals")
            } else {
                try SharedMessageCodec.decodeKlines(Array(text.utf8), channel: "ticks:klines", now: 1_700_000_000_000_000)
            }
        }
    }
}
