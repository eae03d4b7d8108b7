import Foundation
import Synchronization
import Testing
import TestSupport
@testable import BrokerClient

/// The Swift client against a real broker: it survives a kill -9 and restart without losing a news
/// item, subscribes again when its resume is refused, stays under the broker's rate limit when it
/// subscribes to many, and notices a broker that stops answering.
@Suite(.serialized) struct BrokerClientAgainstBrokerTests {
    /// Reconnection in milliseconds, retrying for as long as a test needs.
    private let quickReconnect = ReconnectSchedule(
        initialDelay: .milliseconds(50), multiplier: 2, maximumDelay: .milliseconds(400), jitter: 0.2, maximumAttempts: nil)

    private func postNews(_ broker: BrokerProcess, id: String) async throws {
        let body = #"{"id":"\#(id)","title":"headline \#(id)","category":"company"}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/news", body: body).0 == 200)
    }

    private func postTick(_ broker: BrokerProcess, price: Double) async throws {
        let body = #"{"ticks":[{"code":"600519","name":"贵州茅台","price":\#(price),"volume":100,"prev_close":1850}]}"#
        #expect(try await HTTP.request("POST", broker.baseURL + "/api/ticks", body: body).0 == 200)
    }

    private func newsIDs(_ messages: [BrokerMessage]) -> [String] {
        messages.compactMap { $0.news?.data.id }
    }

    @Test func resumesAfterKillNineAndRestartWithEveryNewsItemOnceInSeqOrder() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        var broker = try await BrokerProcess(journal: journal)
        let port = broker.port
        let gate = ReconnectGate()
        let client = BrokerClient(
            configuration: BrokerClientConfiguration(
                url: broker.webSocketURL, subscriptions: [.stock("600519"), .news("all")], reconnect: quickReconnect),
            pause: gate.pause)
        let recorder = ClientRecorder(client)
        let running = Task { try await client.run() }

        try await recorder.waitUntil("both subscriptions confirmed") { _, messages in
            messages.filter { if case .subscribed = $0 { true } else { false } }.count == 2
        }
        try await postTick(broker, price: 1850)
        try await postNews(broker, id: "n1")
        try await postNews(broker, id: "n2")
        try await recorder.waitUntil("live news and price") { _, messages in
            newsIDs(messages) == ["n1", "n2"] && messages.containsPrice("600519", 1850)
        }
        let firstSession = recorder.states.last { $0.isOpen }
        guard case .connected(let clientID) = try #require(firstSession) else {
            Issue.record("the first session was not fresh: \(recorder.states)")
            return
        }
        // The client offers permessage-deflate by default, and the broker took it.
        let (_, listed) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/clients")
        let row = (listed["clients"] as? [[String: Any]] ?? []).first { $0["client_id"] as? String == clientID }
        #expect(row?["compression"] as? Bool == true, "\(listed)")

        await broker.kill9()
        try await recorder.waitUntil("backing off") { states, _ in
            states.contains { if case .backingOff = $0 { true } else { false } }
        }
        // Restarted on the same port and journal; news and a price come while the client is held back.
        broker = try await BrokerProcess(journal: journal, port: port)
        try await postNews(broker, id: "n3")
        try await postNews(broker, id: "n4")
        try await postTick(broker, price: 1901.5)
        gate.open()

        try await recorder.waitUntil("resumed with the missed news and the latest price") { states, messages in
            states.last == .resumed(clientID: clientID) && newsIDs(messages).count >= 4 && messages.containsPrice("600519", 1901.5)
        }
        try await postNews(broker, id: "n5")
        try await recorder.waitUntil("live news after the resume") { _, messages in newsIDs(messages).count >= 5 }

        let messages = recorder.messages
        #expect(newsIDs(messages) == ["n1", "n2", "n3", "n4", "n5"])
        let seqs = messages.compactMap { $0.news?.seq }
        #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count)
        // Resumed, not subscribed again: the only confirmations are the first session's.
        #expect(messages.filter { if case .subscribed = $0 { true } else { false } }.count == 2)
        client.stop()
        try await running.value
        #expect(recorder.states.last == .stopped)
        await broker.terminate()
    }

    /// A running client of `broker` subscribed to stock 600519, and its first session's id.
    private func stockClient(of broker: BrokerProcess) async throws -> (BrokerClient, ClientRecorder, Task<Void, any Error>, String) {
        let client = BrokerClient(configuration: BrokerClientConfiguration(
            url: broker.webSocketURL, subscriptions: [.stock("600519")], reconnect: quickReconnect))
        let recorder = ClientRecorder(client)
        let running = Task { try await client.run() }
        try await recorder.waitUntil("subscribed") { _, messages in messages.contains { $0.subscribed == .stock("600519") } }
        let firstID = try #require(recorder.states.compactMap { if case .connected(let id) = $0 { id } else { nil } }.first)
        return (client, recorder, running, firstID)
    }

    /// Waits until a session other than `firstID` opened and subscribed to stock 600519 again.
    private func waitForAFreshSessionSubscribedAgain(_ recorder: ClientRecorder, after firstID: String) async throws {
        try await recorder.waitUntil("a new session subscribed again") { states, messages in
            states.contains { if case .connected(let id) = $0 { id != firstID } else { false } }
                && messages.filter { $0.subscribed == .stock("600519") }.count == 2
        }
    }

    @Test func aRefusedResumeSubscribesAgainAndPricesFlow() async throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        // No resume window: every resume is refused.
        var broker = try await BrokerProcess(journal: journal, arguments: ["--resume-window", "0"])
        let port = broker.port
        let (client, recorder, running, firstID) = try await stockClient(of: broker)

        await broker.kill9()
        broker = try await BrokerProcess(journal: journal, port: port, arguments: ["--resume-window", "0"])
        try await waitForAFreshSessionSubscribedAgain(recorder, after: firstID)
        try await postTick(broker, price: 1920)
        try await recorder.waitUntil("the new price") { _, messages in messages.containsPrice("600519", 1920) }

        let states = recorder.states
        #expect(!states.contains { if case .resumed = $0 { true } else { false } })
        #expect(recorder.messages.contains { if case .error(let error) = $0 { error.error == "resume_failed" } else { false } })
        client.stop()
        try await running.value
        await broker.terminate()
    }

    @Test func aClientAnOperatorRemovedComesBackInAFreshSessionAndSubscribesAgain() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let (client, recorder, running, firstID) = try await stockClient(of: broker)

        let (status, body) = try await HTTP.request("DELETE", broker.baseURL + "/api/websocket/clients/\(firstID)")
        #expect(status == 200 && body["session_ended"] as? Bool == true, "\(body)")
        try await waitForAFreshSessionSubscribedAgain(recorder, after: firstID)
        try await postTick(broker, price: 1930)
        try await recorder.waitUntil("the new price") { _, messages in messages.containsPrice("600519", 1930) }
        // It was told why it lost the first connection.
        #expect(recorder.states.contains { state in
            if case .backingOff(_, _, .closedByBroker(1008, "kicked")) = state { true } else { false }
        }, "\(recorder.states)")
        client.stop()
        try await running.value
        await broker.terminate()
    }

    @Test func manySubscriptionsUnderATightRateLimitAreAllConfirmedWithoutAKick() async throws {
        let dir = try TemporaryDirectory()
        // A bucket of 5: a fresh session's 30 subscriptions cannot go out in one burst.
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--burst", "5"])
        let stocks = (0..<30).map { Subscription.stock(String(600_000 + $0)) }
        // One per request: the pacing under the limit is what is tested here.
        let client = BrokerClient(configuration: BrokerClientConfiguration(
            url: broker.webSocketURL, subscriptions: stocks, reconnect: quickReconnect, subscriptionBatch: 1))
        let recorder = ClientRecorder(client)
        let running = Task { try await client.run() }

        try await recorder.waitUntil("all 30 confirmed") { _, messages in Set(messages.compactMap(\.subscribed)) == Set(stocks) }
        let refusals = recorder.messages.filter { if case .error(let error) = $0 { error.error == "rate_limited" } else { false } }
        #expect(!refusals.isEmpty, "the broker's limit was reached, so the retry was needed")
        // The retry asks only for what was refused, not for what was still in flight.
        #expect(recorder.messages.compactMap(\.subscribed).count == stocks.count, "none asked for twice")
        #expect(recorder.states.filter(\.isOpen).count == 1, "one session, never kicked: \(recorder.states)")
        client.stop()
        try await running.value
        await broker.terminate()
    }

    @Test func aFreshSessionSubscribesAWatchlistInOneRequestPerKind() async throws {
        let dir = try TemporaryDirectory()
        // A bucket of 5, and one message of each kind is all it takes.
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--burst", "5"])
        // Under the default limit of 100 subscriptions per client.
        let wanted = (0..<90).map { Subscription.stock(String(600_000 + $0)) } + [.news("macro"), .news("company"), .market("sh")]
        let client = BrokerClient(configuration: BrokerClientConfiguration(url: broker.webSocketURL, subscriptions: wanted, reconnect: quickReconnect))
        let recorder = ClientRecorder(client)
        let running = Task { try await client.run() }

        try await recorder.waitUntil("all 93 confirmed") { _, messages in Set(messages.compactMap(\.subscribed)) == Set(wanted) }
        #expect(!recorder.messages.contains { if case .error = $0 { true } else { false } }, "nothing refused: \(recorder.messages.count)")
        let (_, stats) = try await HTTP.request("GET", broker.baseURL + "/api/websocket/stats")
        #expect((stats["messages"] as? [String: Any])?["in"] as? Int == 3, "stocks, news, market: \(stats["messages"] ?? "")")
        client.stop()
        try await running.value
        await broker.terminate()
    }

    @Test func aBatchOverTheSubscriptionLimitIsAskedForOneByOneAndWhatFitsIsHeld() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), arguments: ["--max-subscriptions-per-client", "20"])
        let stocks = (0..<25).map { Subscription.stock(String(600_000 + $0)) }
        let client = BrokerClient(configuration: BrokerClientConfiguration(url: broker.webSocketURL, subscriptions: stocks, reconnect: quickReconnect))
        let recorder = ClientRecorder(client)
        let running = Task { try await client.run() }

        // The batch of 25 is refused whole; one by one, 20 are held and 5 refused. The user's
        // messages hold the 5 refusals, not the batch's, which answered nothing they asked.
        let isLimit: (BrokerMessage) -> Bool = { if case .error(let error) = $0 { error.error == "too_many_subscriptions" } else { false } }
        try await recorder.waitUntil("20 held, 5 refused") { _, messages in
            messages.compactMap(\.subscribed).count == 20 && messages.filter(isLimit).count == 5
        }
        #expect(Set(recorder.messages.compactMap(\.subscribed)) == Set(stocks.prefix(20)), "the first 20, in order")
        #expect(recorder.states.filter(\.isOpen).count == 1, "one session: \(recorder.states)")
        client.stop()
        try await running.value
        await broker.terminate()
    }

    @Test func aBrokerThatStopsAnsweringIsDetectedAndTheClientComesBack() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let client = BrokerClient(configuration: BrokerClientConfiguration(
            url: broker.webSocketURL, subscriptions: [.stock("600519")],
            pingInterval: .milliseconds(200), pongTimeout: .milliseconds(600), connectTimeout: .seconds(1),
            closeTimeout: .milliseconds(200), reconnect: quickReconnect))
        let recorder = ClientRecorder(client)
        let running = Task { try await client.run() }
        try await recorder.waitUntil("subscribed") { _, messages in messages.contains { $0.subscribed == .stock("600519") } }

        broker.suspend()
        try await recorder.waitUntil("the silence noticed") { states, _ in
            states.contains { if case .backingOff(_, _, .heartbeatTimedOut) = $0 { true } else { false } }
        }
        broker.proceed()
        let lossCount = recorder.states.count
        try await recorder.waitUntil("a session again") { states, _ in states.dropFirst(lossCount).contains(where: \.isOpen) }
        try await postTick(broker, price: 1930)
        try await recorder.waitUntil("prices again") { _, messages in messages.containsPrice("600519", 1930) }

        client.stop()
        try await running.value
        await broker.terminate()
    }

    /// A network gone without a close: the broker still holds the old connection, and hands its
    /// session to a resume only once that connection has been silent 5 s. The client backs off
    /// until then (`SessionMachine.resumeDelay`) instead of reconnecting at once into a fresh session.
    @Test func aResumeAfterALossTheBrokerDidNotSeeWaitsForItsTakeOverAndKeepsTheSession() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let relay = try PartitioningRelay(to: broker.port)
        defer { relay.stop() }
        let client = BrokerClient(configuration: BrokerClientConfiguration(
            // The loss is noticed 4 s after the partition, before the broker's 5 s of silence. A
            // reconnect then would wait 3 s in the broker for the connection it cannot take over
            // yet and get a fresh session (the pong timeout outlasts that wait, so the client takes
            // it); backing off until 5.5 s after its last frame, it resumes.
            url: relay.webSocketURL(), subscriptions: [.stock("600519")],
            pingInterval: .milliseconds(300), pongTimeout: .seconds(4), connectTimeout: .seconds(10),
            closeTimeout: .milliseconds(200), reconnect: quickReconnect))
        let recorder = ClientRecorder(client)
        let running = Task { try await client.run() }
        try await recorder.waitUntil("subscribed") { _, messages in messages.contains { $0.subscribed == .stock("600519") } }
        guard case .connected(let clientID) = try #require(recorder.states.last { $0.isOpen }) else {
            Issue.record("the first session was not fresh: \(recorder.states)")
            return
        }

        relay.partition()
        try await recorder.waitUntil("the silence noticed") { states, _ in
            states.contains { if case .backingOff(_, _, .heartbeatTimedOut) = $0 { true } else { false } }
        }
        let lossCount = recorder.states.count
        relay.heal()
        // Sent to the connection the broker still holds, lost in the partition.
        try await postTick(broker, price: 1944)

        try await recorder.waitUntil("a session again") { states, _ in states.dropFirst(lossCount).contains(where: \.isOpen) }
        #expect(recorder.states.last == .resumed(clientID: clientID), "\(recorder.states.dropFirst(lossCount))")
        #expect(!recorder.messages.contains { if case .error(let error) = $0 { error.error == "resume_failed" } else { false } })
        try await recorder.waitUntil("the price missed") { _, messages in messages.containsPrice("600519", 1944) }
        client.stop()
        try await running.value
        await broker.terminate()
    }

    @Test func aTokenInTheHeaderOrInTheQueryOpensASessionOfItsUserThatGetsTheUsersAlerts() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), environment: ["BROKERD_JWT_SECRET": TestTokens.secret])
        let token = try await TestTokens.valid(user: "alice")
        let inHeader = BrokerClient(configuration: BrokerClientConfiguration(url: broker.webSocketURL, token: token, reconnect: quickReconnect))
        let inQuery = BrokerClient(configuration: BrokerClientConfiguration(
            url: broker.webSocketURL, token: token, tokenPlacement: .queryParameter, reconnect: quickReconnect))
        let recorders = [ClientRecorder(inHeader), ClientRecorder(inQuery)]
        let runs = [Task { try await inHeader.run() }, Task { try await inQuery.run() }]
        for recorder in recorders {
            try await recorder.waitUntil("a session") { states, _ in states.contains { $0.isOpen } }
        }

        try inHeader.setAlert(code: "600519", condition: .above, threshold: 1900)
        try await recorders[0].waitUntil("the rule set") { _, messages in
            messages.contains { if case .alertSet(let rule) = $0 { rule.code == "600519" } else { false } }
        }
        try await postTick(broker, price: 1901)
        // Both connections are alice's: both get her alert.
        for recorder in recorders {
            try await recorder.waitUntil("alice's alert") { _, messages in
                messages.contains { if case .alert(let alert) = $0 { alert.data.user == "alice" && alert.data.price == 1901 } else { false } }
            }
        }

        inHeader.stop()
        inQuery.stop()
        for run in runs { try await run.value }
        await broker.terminate()
    }

    /// A client of `broker` following all news, whose token provider signs tokens of `user`, the
    /// nth expiring at `expiry(n)`; and the count of tokens it issued.
    private func newsClient(
        of broker: BrokerProcess, user: String, refreshAhead: Duration?, expiry: @escaping @Sendable (Int) -> Date
    ) -> (BrokerClient, Counter) {
        let issued = Counter()
        let client = BrokerClient(configuration: BrokerClientConfiguration(
            url: broker.webSocketURL,
            tokenProvider: { try await TestTokens.expiring(user: user, at: expiry(issued.next())) },
            tokenRefreshAhead: refreshAhead, subscriptions: [.news("all")], reconnect: quickReconnect))
        return (client, issued)
    }

    /// A token that expires: the broker closes the connection (1008 `token_expired`), the client
    /// asks its token provider for a fresh one and resumes the session, missing nothing. With a
    /// fixed token it retried the expired one until it gave up.
    @Test func aTokenProviderRenewsAnExpiredTokenAndTheSessionResumes() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), environment: ["BROKERD_JWT_SECRET": TestTokens.secret])
        // The first expires in 2–3 s (whole seconds); later ones last an hour. Not refreshed on
        // the connection: closed at exp, and resumed.
        let (client, issued) = newsClient(of: broker, user: "frank", refreshAhead: nil) { issue in
            issue == 0 ? Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 3).rounded(.down)) : Date().addingTimeInterval(3_600)
        }
        let recorder = ClientRecorder(client)
        let run = Task { try await client.run() }
        try await recorder.waitUntil("a session") { states, _ in states.contains { $0.isOpen } }
        try await recorder.waitUntil("the token to expire and the session to resume") { states, _ in
            states.contains { if case .resumed = $0 { true } else { false } }
        }
        #expect(issued.value >= 2)
        try await postNews(broker, id: "after-renewal")
        try await recorder.waitUntil("news after the renewal") { _, messages in newsIDs(messages) == ["after-renewal"] }

        client.stop()
        try await run.value
        await broker.terminate()
    }

    @Test func aTokenProviderRefreshesTheTokenOnTheOpenConnectionAheadOfItsExp() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), environment: ["BROKERD_JWT_SECRET": TestTokens.secret])
        // Each lives 10–11 s (whole seconds): refreshed halfway, some 5 s before it expires. (With
        // 3–4 s, the 1.5 s left after halfway were once not enough: a full suite on 2 cores held
        // the test process's threads up longer than that, and a token expired unrefreshed.)
        let (client, issued) = newsClient(of: broker, user: "gina", refreshAhead: .seconds(30)) { _ in
            Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 11).rounded(.down))
        }
        let recorder = ClientRecorder(client)
        let run = Task { try await client.run() }
        try await recorder.waitUntil("subscribed") { _, messages in messages.contains { $0.subscribed == .news("all") } }
        // The connection's token outlived, and the next one too: two refreshes on one connection,
        // some 5 s apart, each taken by the broker (its log says so).
        for _ in 0..<1_200 where broker.logText.components(separatedBy: "token refreshed").count - 1 < 2 {
            try await Task.sleep(for: .milliseconds(25))
        }
        try await postNews(broker, id: "after-three-tokens")
        try await recorder.waitUntil("news on the first connection") { _, messages in newsIDs(messages) == ["after-three-tokens"] }
        #expect(issued.value >= 3, "the connection's token and two refreshes: \(issued.value)")
        #expect(recorder.states.filter(\.isOpen).count == 1, "never reconnected: \(recorder.states)")
        #expect(!recorder.messages.contains { if case .error = $0 { true } else { false } }, "\(recorder.messages)")

        // The broker took each (its log says so), and closed nothing for an expired one.
        let log = broker.logText
        #expect(log.components(separatedBy: "token refreshed").count - 1 >= 2, "\(log.suffix(2_000))")
        #expect(!log.contains("token expired"))
        client.stop()
        try await run.value
        await broker.terminate()
    }

    /// A token the broker refuses (1008 naming it) fails the client at once, as the JavaScript
    /// client does: retrying the same token cannot help (it retried until the schedule ran out,
    /// here never).
    @Test func aTokenProviderThatDoesNotAnswerFailsTheAttemptAndTheNextOneConnects() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        final class Calls: Sendable { let count = Mutex(0) }
        let calls = Calls()
        let client = BrokerClient(configuration: BrokerClientConfiguration(
            url: broker.webSocketURL,
            // The first answer never comes (deaf to cancellation for a minute); the second at once.
            // Without auth the broker does not read the token.
            tokenProvider: {
                guard calls.count.withLock({ $0 += 1; return $0 }) > 1 else {
                    for _ in 0..<600 { try? await Task.sleep(for: .milliseconds(100)) }
                    return "too late"
                }
                return "fresh"
            },
            subscriptions: [.stock("600519")], connectTimeout: .seconds(1), reconnect: quickReconnect))
        let recorder = ClientRecorder(client)
        let running = Task { try await client.run() }
        try await recorder.waitUntil("a session after the provider's silence", timeout: .seconds(20)) { states, _ in
            states.contains(where: \.isOpen)
        }
        let failed = recorder.states.contains {
            if case .backingOff(_, _, .connectFailed(let reason)) = $0 { reason.contains("no token within") } else { false }
        }
        #expect(failed, "\(recorder.states)")
        // Asked again after the timeout (more than twice only if a connect also timed out, under load).
        #expect(calls.count.withLock { $0 } >= 2)
        client.stop()
        try await running.value
        await broker.terminate()
    }

    @Test func aRefusedFixedTokenFailsAtOnce() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"), environment: ["BROKERD_JWT_SECRET": TestTokens.secret])
        let expired = try await TestTokens.expiring(user: "gina", at: Date().addingTimeInterval(-60))
        let client = BrokerClient(configuration: BrokerClientConfiguration(url: broker.webSocketURL, token: expired, reconnect: quickReconnect))
        let run = Task { try await client.run() }
        let ended = Task {
            try await Task.sleep(for: .seconds(10))
            run.cancel()
        }
        do {
            try await run.value
            Issue.record("run() ended without giving up")
        } catch BrokerClientError.gaveUp(let loss) {
            guard case .closedByBroker(1008, let reason?) = loss else { Issue.record("\(loss)"); return }
            #expect(reason.contains("token"), "\(reason)")
        }
        ended.cancel()
        if case .failed = client.state {} else { Issue.record("state \(client.state)") }
        await broker.terminate()
    }

    @Test func aConsumerThatStopsReadingStopsTheClientReadingWithoutLosingTheConnectionOrAMessage() async throws {
        let dir = try TemporaryDirectory()
        let broker = try await BrokerProcess(journal: dir.path("j.sqlite"))
        let client = BrokerClient(configuration: BrokerClientConfiguration(
            url: broker.webSocketURL, subscriptions: [.news("all")], pingInterval: .milliseconds(200),
            pongTimeout: .milliseconds(500), reconnect: quickReconnect, messageBufferCapacity: 2))
        let recorder = ClientRecorder(client)
        let running = Task { try await client.run() }
        try await recorder.waitUntil("subscribed") { _, messages in
            messages.contains { if case .subscribed = $0 { true } else { false } }
        }

        // More news than the consumer and the buffer hold: the client stops reading, pongs
        // included, for several pong timeouts.
        recorder.hold()
        let ids = (1...12).map { "n\($0)" }
        for id in ids { try await postNews(broker, id: id) }
        try await Task.sleep(for: .seconds(2))
        recorder.release()

        try await recorder.waitUntil("every news item") { _, messages in newsIDs(messages).count >= ids.count }
        #expect(newsIDs(recorder.messages) == ids)
        #expect(recorder.states.filter(\.isOpen).count == 1, "one session, never lost: \(recorder.states)")
        client.stop()
        try await running.value
        await broker.terminate()
    }
}

/// A thread-safe count of calls, for a token provider.
final class Counter: Sendable {
    private let count = Mutex(0)

    /// The count before this call.
    func next() -> Int {
        count.withLock { count in
            defer { count += 1 }
            return count
        }
    }

    var value: Int { count.withLock { $0 } }
}
