import Foundation

/// The broker's own counters, read from `GET /api/websocket/stats`.
struct BrokerCounters: Sendable {
    /// Ticks journaled since the broker started, from every source.
    var ticks: UInt64 = 0
    /// The journal's last sequence number: every event journaled, ticks and the rest.
    var lastSeq: UInt64 = 0
    /// Messages sent to clients, and those of them that were `price_update`s.
    var messagesOut: UInt64 = 0
    var priceMessagesOut: UInt64 = 0
    /// The Redis source's counters; nil when the broker runs without Redis.
    var redis: Redis?

    struct Redis: Sendable {
        var state = "?"
        var messages: UInt64 = 0
        var ticks: UInt64 = 0
        var malformed: UInt64 = 0
        var deliveryFailures: UInt64 = 0
        var reconnects: UInt64 = 0
        var lastError: String?
    }

    /// The counters and when they were read.
    struct Reading: Sendable {
        let counters: BrokerCounters
        /// When the answer arrived, on the monotonic clock.
        let at: UInt64
    }

    /// Reads the counters over `http`.
    static func read(over http: inout HTTPConnection) async throws -> BrokerCounters {
        let response = try await http.expectSuccess(.GET, "/api/websocket/stats")
        return BrokerCounters(json: response.body)
    }

    /// Reads the counters over a new connection, or nil when the broker does not answer within
    /// `timeout`: an overloaded broker may take many seconds, and a benchmark that waited for it
    /// would measure its own waiting.
    static func read(from session: BrokerSession, timeout: Duration) async -> Reading? {
        await withTaskGroup(of: Reading?.self) { group in
            group.addTask {
                try? await session.withHTTP { http in
                    let counters = try await read(over: &http)
                    return Reading(counters: counters, at: MonotonicClock.nanoseconds())
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// Parses a stats body; missing fields read as zero.
    init(json: String) {
        guard let root = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any] else { return }
        func number(_ object: Any?, _ key: String) -> UInt64 {
            ((object as? [String: Any])?[key] as? NSNumber)?.uint64Value ?? 0
        }
        ticks = number(root["ticks"], "total")
        lastSeq = number(root["journal"], "last_seq")
        messagesOut = number(root["messages"], "out")
        priceMessagesOut = number((root["messages"] as? [String: Any])?["out_by_type"], "price_update")
        if let redis = root["redis"] as? [String: Any] {
            self.redis = Redis(
                state: redis["state"] as? String ?? "?", messages: number(redis, "messages"), ticks: number(redis, "ticks"),
                malformed: number(redis, "malformed"), deliveryFailures: number(redis, "deliveryFailures"),
                reconnects: number(redis, "reconnects"), lastError: redis["lastError"] as? String)
        }
    }

    init() {}
}
