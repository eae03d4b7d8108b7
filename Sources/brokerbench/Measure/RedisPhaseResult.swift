/// The outcome of one measured stretch of publishing ticks to Redis at one rate.
///
/// Ingest comes from the broker's journal: events journaled per second, about one per tick
/// (plus the odd bar close, connect or stream position). The broker's stats add the exact tick
/// counter, messages queued and the Redis source's counters when the broker answered them, which
/// an overloaded broker may not; figures that need a missing reading are nil.
struct RedisPhaseResult: Sendable {
    /// What reached the clients (strategy ticks only) and what it cost.
    let phase: PhaseResult
    let publish: RedisFeedReport
    /// The journal's last seq at the start of the stretch and when publishing ended.
    let journalWindow: (start: JournalProbe.Reading, end: JournalProbe.Reading)?
    /// The broker's stats at the start of the stretch and when publishing ended.
    let statsWindow: (start: BrokerCounters.Reading, end: BrokerCounters.Reading)?
    /// The broker's stats after the clients drained (or the drain timeout passed).
    let statsAtEnd: BrokerCounters.Reading?
    let journalSource: String
    /// Ticks published but not yet journaled when publishing ended, and the most seen while it ran.
    let behindAtFeedEnd: UInt64?
    let mostBehind: UInt64?
    /// Ticks published that the broker had not journaled at the end of the drain.
    let notIngested: UInt64?
    /// Redis source reconnects during the stretch.
    let redisReconnects: UInt64?

    var targetRate: Double { phase.targetRate }
    private var seconds: Double { publish.feed.seconds }

    /// Events journaled per second while the publisher ran.
    var journalEventsPerSecond: Double? {
        guard let (start, end) = journalWindow else { return nil }
        return Double(end.seq &- start.seq) / MonotonicClock.seconds(from: start.at, to: end.at)
    }

    private func perStatsSecond(_ keyPath: KeyPath<BrokerCounters, UInt64>) -> Double? {
        guard let (start, end) = statsWindow else { return nil }
        return Double(end.counters[keyPath: keyPath] &- start.counters[keyPath: keyPath])
            / MonotonicClock.seconds(from: start.at, to: end.at)
    }

    /// Ticks the broker counted as ingested per second while the publisher ran.
    var ticksPerSecond: Double? { perStatsSecond(\.ticks) }
    /// Messages the broker queued to clients per second while the publisher ran.
    var brokerMessagesPerSecond: Double? { perStatsSecond(\.messagesOut) }
    /// Fan-out rounds per second that reached the strategy's subscribers: every client
    /// subscribes to it, so each such round queues one message per client.
    var roundsPerSecond: Double? { brokerMessagesPerSecond.map { phase.clients > 0 ? $0 / Double(phase.clients) : 0 } }
    /// Ticks ingested per such round: how much the broker batches.
    var ticksPerRound: Double? {
        guard let ingest = ticksPerSecond ?? journalEventsPerSecond, let roundsPerSecond, roundsPerSecond > 0 else { return nil }
        return ingest / roundsPerSecond
    }
    /// Strategy ticks (the ones clients subscribe to) published per second.
    var strategyTicksPerSecond: Double { publish.feed.ticksPerSecond }
    /// The larger of the backlog when publishing ended and the most seen while it ran.
    var worstBacklog: UInt64? {
        switch (behindAtFeedEnd, mostBehind) {
        case (nil, nil): nil
        case let (end, most): max(end ?? 0, most ?? 0)
        }
    }

    /// Sustained: the publisher and the journal both kept within 5 % of the target, the journal
    /// was never more than a second of ticks behind, the clients got the last ticks within the
    /// drain timeout, and nothing was lost (ticks or client entries).
    var isSustained: Bool {
        guard let journalEventsPerSecond, let worstBacklog else { return false }
        return publish.ticksPerSecond >= targetRate * 0.95 && journalEventsPerSecond >= targetRate * 0.95
            && Double(worstBacklog) <= targetRate && phase.drained && (notIngested ?? 0) == 0
            && phase.lost == 0 && phase.disconnects == 0
    }

    /// Table rows describing this stretch.
    func describe(into report: inout BenchReport) {
        let pipeline = publish.feed.postMicros
        func percentile(_ value: Double) -> String {
            Format.micros(pipeline.percentileOrZero(value))
        }
        func rate(_ value: Double?) -> String { value.map(Format.rate) ?? "n/a" }
        func count(_ value: UInt64?) -> String { value.map { Format.count($0) } ?? "n/a" }
        report.row(
            "published",
            "\(Format.count(publish.ticks)) ticks in \(Format.decimal(seconds)) s = \(Format.rate(publish.ticksPerSecond))"
                + " (target \(Format.rate(targetRate))), \(Format.count(publish.messages)) messages;"
                + " pipeline round trip p50 \(percentile(50)) p99 \(percentile(99));"
                + " publisher thread \(Format.decimal(publish.threadCPUSeconds / max(seconds, 1e-9), places: 2)) cores")
        if Double(publish.mostBehind) > targetRate / 10 {  // more than 100 ms of ticks
            report.note("the publisher fell behind its schedule by up to \(Format.count(publish.mostBehind)) ticks")
        }
        if publish.unheard > 0 {
            report.note("\(publish.unheard) PUBLISH(es) reached no subscriber: the broker was not subscribed")
        }
        report.row(
            "broker ingest",
            "\(rate(journalEventsPerSecond)) events journaled while publishing (\(journalSource)),"
                + " \(rate(ticksPerSecond)) ticks by the broker's counter")
        report.row(
            "journal backlog",
            "\(count(behindAtFeedEnd)) ticks when publishing ended, most while publishing \(count(mostBehind));"
                + " not journaled when the drain ended: \(count(notIngested))")
        if statsWindow == nil {
            report.note("the broker did not answer GET /api/websocket/stats within 1 s at the start or end of publishing: it was overloaded")
        }
        if let end = statsAtEnd?.counters.redis, let start = statsWindow?.start.counters.redis {
            report.row(
                "broker's redis source",
                "state \(end.state), messages \(Format.count(end.messages &- start.messages)),"
                    + " malformed \(end.malformed &- start.malformed), delivery failures \(end.deliveryFailures &- start.deliveryFailures),"
                    + " reconnects \(end.reconnects &- start.reconnects)")
        }
        if let redisReconnects, redisReconnects > 0 {
            report.note(
                "the broker lost its Redis connection during the run (\(statsAtEnd?.counters.redis?.lastError ?? "no error recorded")):"
                    + " with pub/sub, Redis drops a subscriber that falls over 32 MB behind"
                    + " (client-output-buffer-limit pubsub) and the ticks published meanwhile are lost;"
                    + " a stream (--via stream) keeps them")
        }
        report.row(
            "strategy ticks",
            "\(Format.count(phase.feed.ticks)) = \(Format.rate(strategyTicksPerSecond)) to \(phase.clients) clients")
        report.row(
            "fan-out",
            "broker queued \(rate(brokerMessagesPerSecond)) messages to clients ≈ \(roundsPerSecond.map { Format.decimal($0) } ?? "n/a")"
                + " rounds/s touching the strategy, ≈ \(ticksPerRound.map { Format.count(Int($0.rounded())) } ?? "n/a") ticks per round")
        phase.describeDeliveries(into: &report)
        report.row(
            "price messages per client",
            "\(Format.decimal(phase.clients > 0 ? phase.messagesPerSecond / Double(phase.clients) : 0))/s received,"
                + " \(Format.decimal(phase.tally.priceMessages > 0 ? Double(phase.received) / Double(phase.tally.priceMessages) : 0)) entries each")
        report.row(
            "redis-server CPU",
            phase.cpu.helperCores.map { Format.decimal($0, places: 2) + " cores" } ?? "n/a (pass --redis-pid for a running Redis)")
    }

    /// JSON members describing this stretch.
    var jsonMembers: [(String, JSONValue)] {
        let pipeline = publish.feed.postMicros
        func optional(_ value: UInt64?) -> JSONValue { value.map { .int(Int($0)) } ?? .null }
        return [
            ("rate_target", .double(targetRate)),
            ("rate_published", .double(publish.ticksPerSecond)),
            ("ticks_published", .int(Int(publish.ticks))),
            ("messages_published", .int(publish.messages)),
            ("seconds", .double(seconds)),
            ("pipeline_p99_us", .int(Int(pipeline.percentileOrZero(99)))),
            ("publisher_cpu_cores", .double(publish.threadCPUSeconds / max(seconds, 1e-9))),
            ("journal_events_per_s", .optional(journalEventsPerSecond)),
            ("ingest_ticks_per_s", .optional(ticksPerSecond)),
            ("backlog_at_end", optional(behindAtFeedEnd)),
            ("backlog_max", optional(mostBehind)),
            ("not_ingested", optional(notIngested)),
            ("redis_reconnects", optional(redisReconnects)),
            ("strategy_ticks", .int(phase.feed.ticks)),
            ("strategy_ticks_per_s", .double(strategyTicksPerSecond)),
            ("broker_messages_per_s", .optional(brokerMessagesPerSecond)),
            ("rounds_per_s", .optional(roundsPerSecond)),
            ("ticks_per_round", .optional(ticksPerRound)),
        ] + phase.deliveryJSONMembers + [
            ("drain_s", .double(phase.drainSeconds)),
            ("redis_cpu_cores", .optional(phase.cpu.helperCores)),
            ("sustained", .bool(isSustained)),
        ]
    }
}
