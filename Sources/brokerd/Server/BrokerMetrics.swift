import Broker
import Journal
import Metrics
import Prometheus
import Publishers
import Synchronization

/// The broker's Prometheus metrics, served at `GET /metrics`.
///
/// Counts and latencies are swift-metrics instruments updated where things happen (connections,
/// messages in and out, ticks, journal commits, fan-out). Levels — connections, subscriptions,
/// queue depths, the journal's head, the Redis source — are sampled into gauges when scraped.
final class BrokerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    /// What `advance` last brought each counter to.
    private let sampledTotals = Mutex<[String: Int]>([:])

    /// Latency buckets for the broker's fast paths (the factory's default starts at 5 ms).
    static let fastBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
        .microseconds(2500), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .seconds(1),
    ]

    /// Creates the registry and makes it the process's metrics backend; call once, at start-up.
    static func bootstrap() -> BrokerMetrics {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        for label in ["brokerd_journal_commit_seconds", "brokerd_fanout_dispatch_seconds"] {
            factory.durationHistogramBuckets[label] = fastBuckets
        }
        factory.durationHistogramBuckets[NodeRequestMetrics.durationLabel] = NodeRequestMetrics.durationBuckets
        factory.valueHistogramBuckets["brokerd_journal_batch_events"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 8192]
        factory.durationHistogramBuckets[HTTPMetricNames.duration] = fastBuckets
        factory.nameAndLabelSanitizer = HTTPMetricNames.rename
        MetricsSystem.bootstrap(factory)
        return BrokerMetrics(registry: registry)
    }

    private init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// The Prometheus text exposition, with the levels sampled now.
    func exposition(runtime: BrokerRuntime) async -> String {
        await sample(runtime)
        return registry.emitToString()
    }

    private func sample(_ runtime: BrokerRuntime) async {
        let connections = runtime.registry.all
        gauge("brokerd_connections").set(connections.count)
        let depths = connections.map(\.queueDepth)
        gauge("brokerd_outbound_queue_depth", ["stat": "sum"]).set(depths.reduce(0, +))
        gauge("brokerd_outbound_queue_depth", ["stat": "max"]).set(depths.max() ?? 0)
        gauge("brokerd_ticks_per_second").set(runtime.tickRate.perSecond)
        if let store = runtime.store {
            let (lastSeq, sessions, byType) = await store.read { projection in
                (projection.lastSeq, projection.clients.count,
                 SubscriptionType.allCases.map { ($0.rawValue, projection.subscriptions.count(of: $0)) })
            }
            gauge("brokerd_ready").set(1)
            gauge("brokerd_journal_last_seq").set(Double(lastSeq))
            gauge("brokerd_sessions").set(sessions)
            for (type, count) in byType { gauge("brokerd_subscriptions", ["type": type]).set(count) }
            let disk = store.journal.diskUsage
            gauge("brokerd_journal_size_bytes").set(Double(disk.main + disk.wal))
            gauge("brokerd_journal_sqlite_memory_bytes").set(Double(Journal.sqliteMemoryBytes))
            let journal = store.journal.statistics
            advance("brokerd_journal_commit_failures_total", to: Int(journal.failedCommits))
            advance("brokerd_journal_checkpoint_failures_total", to: Int(journal.failedCheckpoints))
        } else {
            gauge("brokerd_ready").set(0)
        }
        if runtime.broadcaster != nil {
            let now = WallClock.microsecondsNow()
            gauge("brokerd_cluster_nodes").set(1 + runtime.cluster.nodes(at: now).count)
            gauge("brokerd_cluster_clock_offset_max_seconds").set(Double(runtime.cluster.largestClockOffset(at: now)) / 1_000_000)
            let signing = runtime.sharedSecrets.now
            gauge("brokerd_redis_signing").set(signing.signer == nil ? 0 : 1)
            gauge("brokerd_redis_signatures_required").set(signing.signer != nil && signing.requiresSignatures ? 1 : 0)
        }
        if let redis = runtime.redis?.snapshot {
            for (reader, state) in [
                ("channel", redis.channelState), ("control", redis.controlState), ("stream", redis.streamState), ("log", redis.logState),
            ] {
                guard let state else { continue }
                gauge("brokerd_redis_source_up", ["reader": reader]).set(state == .connected ? 1 : 0)
            }
            advance("brokerd_redis_messages_received_total", to: redis.messages)
            advance("brokerd_redis_malformed_total", to: redis.malformed)
            advance("brokerd_redis_reconnects_total", to: redis.reconnects)
            advance("brokerd_redis_stream_gaps_total", to: redis.gaps)
            advance("brokerd_redis_shared_received_total", to: redis.shared)
            advance("brokerd_redis_node_id_conflicts_total", to: redis.nodeIDConflicts)
            advance("brokerd_redis_unsigned_total", to: redis.unsigned)
            advance("brokerd_redis_replayed_total", to: redis.replayed)
        }
        if let outbound = runtime.broadcaster?.snapshot {
            gauge("brokerd_redis_outbound_up").set(outbound.state == .connected ? 1 : 0)
            gauge("brokerd_redis_outbound_queued").set(outbound.queued)
            gauge("brokerd_redis_outbound_held").set(outbound.held)
            advance("brokerd_redis_outbound_published_total", to: outbound.published)
            advance("brokerd_redis_outbound_dropped_total", to: outbound.dropped)
            advance("brokerd_redis_outbound_not_logged_total", to: outbound.notLogged)
            advance("brokerd_redis_outbound_outages_total", to: outbound.outages)
        }
        if let sentinel = runtime.sentinel?.snapshot {
            gauge("brokerd_redis_sentinel_up").set(sentinel.state == .connected ? 1 : 0)
            advance("brokerd_redis_sentinel_switches_total", to: sentinel.switches)
        }
    }

    /// Brings the counter `name` up to `total`, a count since start kept elsewhere (the Redis
    /// source's): Prometheus' `rate()` needs a counter, which only moves up.
    private func advance(_ name: String, to total: Int) {
        let counter = registry.makeCounter(
            descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: Self.counterHelp[name] ?? ""))
        let delta = sampledTotals.withLock { totals in
            defer { totals[name] = max(totals[name] ?? 0, total) }
            return total - (totals[name] ?? 0)
        }
        if delta > 0 { counter.increment(by: Int64(delta)) }
    }

    private func gauge(_ name: String, _ labels: [String: String] = [:]) -> Prometheus.Gauge {
        registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: Self.gaugeHelp[name] ?? ""),
            labels: labels.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
    }

    /// What each sampled gauge shows, for the exposition's `# HELP` lines.
    private static let gaugeHelp: [String: String] = [
        "brokerd_connections": "WebSocket connections open now.",
        "brokerd_outbound_queue_depth": "Messages waiting in connections' outbound queues (sum and max).",
        "brokerd_ticks_per_second": "Ticks ingested per second over the last seconds.",
        "brokerd_ready": "1 once the journal is replayed and the broker serves.",
        "brokerd_journal_last_seq": "Seq of the last journaled event.",
        "brokerd_journal_size_bytes": "Journal file size, main file and WAL.",
        "brokerd_journal_sqlite_memory_bytes": "Memory SQLite holds in this process, mostly page caches (up to journal_cache_mib per connection).",
        "brokerd_sessions": "Sessions in the projection, connected or resumable.",
        "brokerd_subscriptions": "Subscriptions held, by type.",
        "brokerd_redis_source_up": "1 while the Redis tick reader is connected, by reader.",
        "brokerd_cluster_nodes": "Nodes sharing through Redis that this node hears from (heartbeats of the last 15 s), itself included.",
        "brokerd_redis_outbound_up": "1 while this node can publish to Redis (what it shares with the other nodes).",
        "brokerd_redis_outbound_queued": "Updates waiting to be published to Redis.",
        "brokerd_redis_outbound_held": "Updates for the shared log held while Redis is away, appended when it is back.",
    ]

    /// What each counter `advance` keeps shows.
    private static let counterHelp: [String: String] = [
        "brokerd_journal_commit_failures_total": "Journal commits that failed (disk full, I/O error): their appends were refused.",
        "brokerd_journal_checkpoint_failures_total": "Write-ahead log checkpoints that failed.",
        "brokerd_redis_messages_received_total": "Messages the Redis tick source received.",
        "brokerd_redis_malformed_total": "Redis ticks dropped as malformed and messages dropped whole, each once.",
        "brokerd_redis_reconnects_total": "Times the Redis tick source reconnected.",
        "brokerd_redis_stream_gaps_total": "Times the Redis stream was found trimmed past the position reading resumed after (entries lost unread).",
        "brokerd_redis_shared_received_total": "News, alert-rule changes, signal lists and k-line bars from other nodes ingested.",
        "brokerd_redis_unsigned_total": "With redis_secret: messages and shared-log entries refused for a signature made with another secret, or none where one is needed.",
        "brokerd_cluster_clock_offset_max_seconds": "The largest difference between this node's clock and another's, by their heartbeats (seconds, either way); messages from a node over 30 s off are refused.",
        "brokerd_redis_signing": "1 while this node signs what it shares and checks what it reads (redis_secret set), else 0.",
        "brokerd_redis_signatures_required": "1 while a node's messages are taken only signed (redis_secret set and redis_secret_required on), else 0: 0 with signing on is a rollout not finished.",
        "brokerd_redis_replayed_total": "With redis_secret: signed messages and shared-log entries refused as copies published again (read before, or signed over 30 s from their reading).",
        "brokerd_redis_node_id_conflicts_total": "Messages from another process using this node's id (a misconfiguration: give every node its own node_id).",
        "brokerd_redis_outbound_published_total": "Updates Redis accepted from this node (heartbeats not counted).",
        "brokerd_redis_outbound_dropped_total": "Updates not published: Redis away or refusing, or the outbound queue full.",
        "brokerd_redis_outbound_not_logged_total": "Updates published without their shared-log entry, which Redis refused.",
        "brokerd_redis_outbound_outages_total": "Times publishing to Redis failed after working (the first failure of each outage).",
    ]
}

extension Prometheus.Gauge {
    fileprivate func set(_ value: Int) { set(Double(value)) }
}

/// A counter with one dimension whose values are few but not known up front (message types,
/// disconnect reasons): each value's counter is made once and reused.
/// Keeps the totals too, for `GET /api/websocket/stats`, so it shows the same counts as `/metrics`.
final class LabeledCounters: Sendable {
    private let label: String
    private let dimension: String
    private let counters = Mutex<[String: (counter: Metrics.Counter, total: UInt64)]>([:])

    init(label: String, dimension: String) {
        self.label = label
        self.dimension = dimension
    }

    func increment(_ value: String, by amount: Int = 1) {
        let counter = counters.withLock { counters in
            if let known = counters[value]?.counter {
                counters[value]!.total += UInt64(amount)
                return known
            }
            let counter = Metrics.Counter(label: label, dimensions: [(dimension, value)])
            counters[value] = (counter, UInt64(amount))
            return counter
        }
        counter.increment(by: amount)
    }

    /// The count of each value since the process started.
    var totals: [String: UInt64] {
        counters.withLock { $0.mapValues(\.total) }
    }

    /// Messages received from clients, by type (`invalid`, `rate_limited`, `binary` for refused ones).
    static let messagesIn = LabeledCounters(label: "brokerd_messages_in_total", dimension: "type")
    /// Messages queued to clients, by type (`reply` for answers to a client's own requests).
    static let messagesOut = LabeledCounters(label: "brokerd_messages_out_total", dimension: "type")
    /// WebSocket upgrades answered with an HTTP error, by its `error` (`too_many_clients`,
    /// `connecting_too_fast`, `not_ready`…).
    static let refusedUpgrades = LabeledCounters(label: "brokerd_upgrades_refused_total", dimension: "error")
    /// Bytes of the messages the fan-outs queued to clients (per connection), by whether the
    /// frame was deflated (`deflate`) or not (`none`).
    static let bytesOut = LabeledCounters(label: "brokerd_ws_bytes_out_total", dimension: "compression")
    /// Closed connections, by journaled reason.
    static let disconnects = LabeledCounters(label: "brokerd_disconnects_total", dimension: "reason")
    /// Sessions an operator removed (`DELETE /api/websocket/clients/…`), by whether the session was
    /// ended (`ended`) or kept resumable (`kept`).
    static let clientsRemoved = LabeledCounters(label: "brokerd_clients_removed_total", dimension: "session")
    /// `refresh` requests, by outcome: `refreshed`, `invalid_token`, `auth_off`.
    static let tokenRefreshes = LabeledCounters(label: "brokerd_token_refreshes_total", dimension: "result")
    /// Reloads of the configuration (SIGHUP, `POST /api/config/reload`), by outcome: `applied`, `failed`.
    static let configReloads = LabeledCounters(label: "brokerd_config_reloads_total", dimension: "result")
}

/// Names in the broker's style for what Hummingbird's `MetricsMiddleware` records of each HTTP
/// request (its labels have dots, which Prometheus turns into underscores, and no unit).
enum HTTPMetricNames {
    static let requests = "brokerd_http_requests_total"
    static let duration = "brokerd_http_request_duration_seconds"
    static let errors = "brokerd_http_request_errors_total"
    static let active = "brokerd_http_active_requests"

    private static let names = [
        "hb.requests": requests, "http.server.request.duration": duration, "hb.request.errors": errors,
        "http.server.active_requests": active,
    ]
    private static let labels = [
        "http.route": "route", "http.request.method": "method", "http.response.status_code": "status", "error.type": "status",
    ]

    /// `name` and `dimensions` as the registry gets them: Hummingbird's renamed, every other as it is.
    @Sendable static func rename(_ name: String, _ dimensions: [(String, String)]) -> (String, [(String, String)]) {
        guard let renamed = names[name] else { return (name, dimensions) }
        return (renamed, dimensions.map { (labels[$0.0] ?? $0.0, $0.1) })
    }
}
