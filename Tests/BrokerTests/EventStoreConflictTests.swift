import Journal
import Testing
import TestSupport

@testable import Broker

/// Commands in flight together are decided as if one after the other when they touch the same
/// session, rule or news id: each check holds against the state the others left.
struct EventStoreConflictTests {
    /// Runs `commands` concurrently against a fresh store prepared with `setUp`; returns how many
    /// succeeded and the errors of the rest, and the store's projection afterwards.
    private func race(
        setUp: [Command], _ commands: [Command]
    ) async throws -> (succeeded: Int, errors: [String], projection: Projection) {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        defer { journal.close() }
        let store = try EventStore(journal: journal)
        for command in setUp { try await store.execute(command) }
        let outcomes = await withTaskGroup(of: String?.self) { group in
            for command in commands {
                group.addTask {
                    do {
                        try await store.execute(command)
                        return nil
                    } catch let error as BrokerError {
                        return error.error
                    } catch {
                        return "\(error)"
                    }
                }
            }
            return await group.reduce(into: [String?]()) { $0.append($1) }
        }
        let errors = outcomes.compactMap { $0 }
        return (outcomes.count - errors.count, errors.sorted(), await store.projection)
    }

    private func connect(_ id: String, resuming: Bool = false) -> Command {
        .connect(clientID: id, user: nil, remoteAddress: nil, node: "n", resuming: resuming)
    }

    @Test func concurrentResumesOfOneSessionConnectItOnce() async throws {
        let outcome = try await race(
            setUp: [connect("c1"), .disconnect(clientID: "c1", reason: .closed, resumeDeadline: .max)],
            Array(repeating: connect("c1", resuming: true), count: 8))
        #expect(outcome.succeeded == 1)
        #expect(outcome.errors == Array(repeating: "client_already_connected", count: 7))
    }

    @Test func aResumeAndTheSessionsExpiryNeverBothHappen() async throws {
        for _ in 0..<10 {
            let outcome = try await race(
                setUp: [connect("c1"), .disconnect(clientID: "c1", reason: .closed, resumeDeadline: 0)],
                [.expireSession(clientID: "c1"), connect("c1", resuming: true)])
            #expect(outcome.succeeded == 1, "\(outcome.errors)")
            // Either it resumed and is connected, or it expired and is gone for good.
            let client = outcome.projection.client("c1")
            #expect(client == nil || client?.isConnected == true)
        }
    }

    @Test func twoUsersCannotBothTakeOneRuleID() async throws {
        let outcome = try await race(
            setUp: [],
            (0..<6).map { .setAlertRule(AlertRule(id: "r1", user: "user\($0)", code: "600519", condition: .above, threshold: 10)) })
        #expect(outcome.succeeded == 1)
        #expect(outcome.errors == Array(repeating: "alert_rule_id_taken", count: 5))
    }

    @Test func concurrentRulesOfOneUserStopAtTheLimit() async throws {
        let limit = Limits().maxAlertRulesPerUser
        let outcome = try await race(
            setUp: [],
            (0..<(limit + 10)).map { .setAlertRule(AlertRule(id: "r\($0)", user: "alice", code: "600519", condition: .above, threshold: 10)) })
        #expect(outcome.succeeded == limit)
        #expect(outcome.projection.alerts.ruleCount(ofUser: "alice") == limit)
    }

    @Test func oneNewsIDIsPublishedOnce() async throws {
        let item = NewsItem(id: "n1", title: "t", summary: "", url: "", codes: [], category: "macro", publishedAt: 0)
        let outcome = try await race(setUp: [], Array(repeating: .publishNews(item), count: 6))
        #expect(outcome.succeeded == 1)
        #expect(outcome.errors == Array(repeating: "duplicate_news", count: 5))
    }

    @Test func ticksStillCommitTogether() async throws {
        let ticks = (0..<20).map { n in
            Command.ingestTicks([FedTick(code: "600519", name: "M", price: 10 + Double(n), volume: 1, prevClose: 9, timestamp: 1)])
        }
        let outcome = try await race(setUp: [], ticks)
        #expect(outcome.succeeded == 20)
        #expect(outcome.projection.lastSeq == 20)
    }

    /// Runs `commands` concurrently against a store prepared with `setUp`; returns the events they
    /// recorded, in seq order.
    private func raceForEvents(setUp: [Command], _ commands: [Command]) async throws -> [RecordedEvent] {
        let dir = try TemporaryDirectory()
        let journal = try Journal.open(path: dir.path("j.sqlite"))
        defer { journal.close() }
        let store = try EventStore(journal: journal)
        for command in setUp { try await store.execute(command) }
        let recorded = try await withThrowingTaskGroup(of: [RecordedEvent].self) { group in
            for command in commands {
                group.addTask { try await store.execute(command) }
            }
            return try await group.reduce(into: [RecordedEvent]()) { $0 += $1 }
        }
        return recorded.sorted { $0.seq < $1.seq }
    }

    private func tick(_ price: Double) -> Command {
        .ingestTicks([FedTick(code: "600519", name: "M", price: price, volume: 1, prevClose: 9, timestamp: 1)])
    }

    private let rule = AlertRule(id: "r1", user: "alice", code: "600519", condition: .above, threshold: 100)

    private func firings(in events: [RecordedEvent]) -> [UInt64] {
        events.compactMap { if case .alertTriggered = $0.event { $0.seq } else { nil } }
    }

    @Test func batchesInFlightTogetherFireARuleTheyAllCrossOnce() async throws {
        let events = try await raceForEvents(setUp: [.setAlertRule(rule)], (0..<12).map { tick(101 + Double($0)) })
        #expect(firings(in: events).count == 1)
        // At the first tick of all: the one that crossed.
        #expect(firings(in: events).first == events.first.map { $0.seq + 1 })
    }

    @Test func aRuleReArmedByABatchInFlightFiresAgainOnTheNextCrossing() async throws {
        // Above twice, then below, …: the first batch above the threshold after one below fires
        // anew, the second does not.
        let prices = (0..<12).map { [101.0, 102, 99][$0 % 3] }
        let events = try await raceForEvents(setUp: [.setAlertRule(rule)], prices.map(tick))
        var armed = true
        var expected: [UInt64] = []
        for event in events {
            guard case .priceTicked(let tick) = event.event else { continue }
            if tick.price >= 100, armed {
                expected.append(event.seq + 1)
                armed = false
            } else if tick.price < 100 {
                armed = true
            }
        }
        #expect(firings(in: events) == expected)
    }

    @Test func noFiringFollowsTheRulesRemoval() async throws {
        for _ in 0..<10 {
            let events = try await raceForEvents(
                setUp: [.setAlertRule(rule)],
                [.removeAlertRule(ruleID: "r1", user: "alice")] + (0..<8).map { tick(101 + Double($0)) })
            let removal = try #require(events.first { if case .alertRuleRemoved = $0.event { true } else { false } })
            #expect(firings(in: events).allSatisfy { $0 < removal.seq })
            #expect(firings(in: events).count <= 1)
        }
    }
}
