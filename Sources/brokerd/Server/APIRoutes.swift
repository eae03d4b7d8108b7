import Broker
import Foundation
import Hummingbird
import HummingbirdCore
import Journal
import Publishers

/// The HTTP API of SPEC §5.
struct APIRoutes {
    let runtime: BrokerRuntime

    func register(on router: some RouterMethods<BrokerRequestContext>) {
        router.get("healthz") { _, _ in JSONResponse.make(["status": "ok"]) }
        router.get("readyz") { _, _ in readiness() }
        router.get("metrics") { _, _ in
            guard let metrics = runtime.metrics else { throw APIError(status: .notFound, error: "no_metrics", details: "metrics are off") }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: await metrics.exposition(runtime: runtime))))
        }
        let api = router.group("api")
        api.get("websocket/stats") { _, _ in try await stats() }
        // Strategies and market data: open, or with client authentication on, for a client token
        // (its allow-list applies) or the admin token.
        api.get("signals/buy") { request, _ in try await signals(request) }
        api.get("strategies") { request, _ in try await strategies(request) }
        api.get("prices") { request, _ in try await prices(request) }
        api.get("klines") { request, _ in try await klines(request) }
        api.get("news") { request, _ in try await news(request) }

        let admin = api.group().add(middleware: AdminTokenMiddleware { [runtime] in runtime.adminToken })
        // Client ids, users and addresses: an anonymous session's id is all it takes to resume it.
        admin.get("websocket/clients") { request, _ in try await clients(request) }
        admin.get("websocket/clients/:client_id") { request, context in try await client(request, context) }
        admin.delete("websocket/clients/:client_id") { request, context in try await removeClient(request, context) }
        admin.delete("websocket/clients") { request, _ in try await removeClients(request) }
        admin.get("websocket/subscriptions") { request, _ in try await subscriptions(request) }
        admin.get("cluster") { _, _ in try await cluster() }
        admin.post("websocket/push/prices") { request, _ in try await pushPrices(request) }
        admin.put("signals/:strategy") { request, context in try await replaceSignals(request, context) }
        admin.post("ticks") { request, context in try await ingestTicks(request, context) }
        admin.post("klines") { request, context in try await ingestKlines(request, context) }
        admin.post("news") { request, context in try await publishNews(request, context) }
        admin.get("alerts/rules") { request, _ in try await alertRules(request) }
        admin.post("alerts/rules") { request, context in try await setAlertRule(request, context) }
        admin.delete("alerts/rules/:id") { _, context in try await removeAlertRule(context) }
        // The settings, secrets only as "set"; reloading them is what SIGHUP does.
        admin.get("config") { _, _ in await configuration() }
        admin.post("config/reload") { _, _ in try await reloadConfiguration() }
    }

    /// How long `/readyz` says unready after a journal commit failed, unless one succeeds
    /// meanwhile: then it says ready again, so traffic comes back and tries the journal again (a
    /// node nobody sends anything would otherwise never find out that its disk has room again).
    static let journalFailureHold: Int64 = 10_000_000

    /// `GET /readyz`: ready once the journal is replayed, until a shutdown begins; not while its
    /// commits fail (for `journalFailureHold` after the latest failure).
    func readiness(now: Int64 = WallClock.microsecondsNow()) -> Response {
        if let problem = unreadiness(now: now) { return problem.response }
        // Redis being away does not make the broker unready: local ingest and delivery go on.
        return JSONResponse.make(["status": "ready", "redis": runtime.redis?.snapshot.state.rawValue ?? "off"])
    }

    /// Why the broker is not ready at `now`, or nil when it is.
    func unreadiness(now: Int64) -> APIError? {
        guard let store = runtime.store else { return .notReady }
        // Tells a load balancer to send nothing more while the broker closes its clients.
        guard !runtime.isShuttingDown else { return .shuttingDown }
        guard !runtime.isDraining else { return .draining }
        // A node back from a stop reads what the other nodes shared meanwhile before it takes traffic.
        if runtime.configuration.redis.sharedLogLength != nil {
            // Not yet started counts as on its way.
            let redis = runtime.redis?.snapshot
            if redis?.logCatchingUp ?? true {
                return APIError(
                    status: .serviceUnavailable, error: "catching_up",
                    details: "reading what the other nodes shared while this node was down (the shared log, read up to "
                        + "\(redis?.lastLogID ?? "where it left off")); retry shortly")
            }
        }
        // Every state change is refused while the journal cannot commit: the node is of no use.
        if let stopped = store.journal.stoppedBy {
            return APIError(
                status: .serviceUnavailable, error: "journal_failing",
                details: "the journal stopped taking appends (\(stopped)); restart the broker to open it again")
        }
        guard let failure = store.journal.statistics.lastCommitFailure, now - failure.timestamp < Self.journalFailureHold else {
            return nil
        }
        let ago = String(format: "%.1f", Double(max(0, now - failure.timestamp)) / 1_000_000)
        return APIError(
            status: .serviceUnavailable, error: "journal_failing",
            details: "the last journal commit failed \(ago) s ago (\(failure.reason)): state changes are refused until one succeeds;"
                + " send this to another node")
    }

    func readyStore() throws -> EventStore {
        guard let store = runtime.store else { throw APIError.notReady }
        return store
    }

    /// Runs a command; refusals become 400/404/409 with the decider's own error and details.
    /// `sharing` (when it records anything) is handed to the other nodes in commit order: two
    /// writes of one strategy or rule reach them in the order this node journaled them.
    @discardableResult
    func execute(_ command: Command, sharing update: SharedUpdate? = nil) async throws -> [RecordedEvent] {
        // Nothing is journaled after the final snapshot of a shutdown.
        guard !runtime.isShuttingDown else { throw APIError.shuttingDown }
        do {
            // Without Redis nothing is shared (and the store hears of the command's events with others').
            guard let update, runtime.broadcaster != nil else { return try await readyStore().execute(command) }
            let runtime = runtime
            return try await readyStore().execute(recording: command, whenRecorded: { _ in runtime.share(update) })
        } catch let error as BrokerError {
            throw APIError(status: Self.status(of: error), error: error.error, details: error.details)
        } catch let error as JournalError {
            throw APIError(status: .serviceUnavailable, error: "journal_unavailable", details: "\(error)")
        }
    }

    /// The status of a refusal: 404 for what does not exist, 409 for what exists already, else 400.
    static func status(of refusal: BrokerError) -> HTTPResponse.Status {
        switch refusal {
        case .unknownAlertRule, .unknownClient: .notFound
        case .duplicateNews, .alertRuleIDTaken, .clientIDTaken: .conflict
        default: .badRequest
        }
    }

    /// The path parameter `name`, percent-decoded (`/api/signals/%E9%87%8F%E8%83%BD` is strategy
    /// `量能`, as `?strategy=` would be).
    static func pathParameter(_ name: String, _ context: BrokerRequestContext) throws -> String {
        let raw = try context.parameters.require(name)
        guard let decoded = raw.removingPercentEncoding else {
            throw APIError.badRequest("invalid_path", "\(name) \"\(raw)\" is not valid percent-encoded UTF-8")
        }
        return decoded
    }

    // MARK: Reads

    private func stats() async throws -> Response {
        let store = try readyStore()
        let summary = await store.read { projection in
            (
                lastSeq: projection.lastSeq,
                byType: Dictionary(uniqueKeysWithValues: SubscriptionType.allCases.map {
                    ($0.rawValue, projection.subscriptions.count(of: $0))
                }),
                sessions: projection.clients.count
            )
        }
        let connections = runtime.registry.all
        let sent = LabeledCounters.messagesOut.totals
        let uptime = Double(WallClock.microsecondsNow() - runtime.startedAt) / 1_000_000
        let disk = store.journal.diskUsage
        let journalStatistics = store.journal.statistics
        return JSONResponse.make(StatsBody(
            node: runtime.configuration.nodeID,
            connections: .init(
                active: connections.count, totalSinceStart: runtime.registry.totalOpened, sessions: summary.sessions,
                slowConsumerDisconnects: runtime.sink.slowConsumerDisconnects, refusedUpgrades: LabeledCounters.refusedUpgrades.totals),
            subscriptions: summary.byType,
            // Since start, counted as `/metrics` counts them (a sum over the open connections would
            // drop a closed one's): what was queued to each connection, price rounds after merging,
            // replies and catch-up messages included.
            messages: .init(in: LiveConnection.messagesInSinceStart, out: sent.values.reduce(0, +), outByType: sent),
            ticks: .init(total: runtime.tickRate.total, perSecond: runtime.tickRate.perSecond),
            journal: .init(
                // The file's name only: the stats are anyone's to read, the directory layout is the operator's.
                lastSeq: summary.lastSeq, sizeBytes: disk.main + disk.wal, sqliteMemoryBytes: Journal.sqliteMemoryBytes, file: URL(fileURLWithPath: store.journal.path).lastPathComponent,
                durability: store.journal.durability.rawValue, cacheMiB: store.journal.cacheMiB,
                failedCommits: journalStatistics.failedCommits,
                lastCommitFailure: journalStatistics.lastCommitFailure.map {
                    .init(at: ISOTimestamp.format(microseconds: $0.timestamp), reason: $0.reason)
                },
                checkpoints: .init(
                    background: journalStatistics.backgroundCheckpoints, writer: journalStatistics.writerCheckpoints,
                    failed: journalStatistics.failedCheckpoints)),
            uptimeSeconds: uptime.rounded(),
            redis: runtime.redis?.snapshot,
            redisOutbound: runtime.broadcaster?.snapshot,
            redisSentinel: runtime.sentinel?.snapshot,
            publishers: runtime.publishers.statistics.mapValues { .init(events: $0.events, failures: $0.failures, restarts: $0.restarts) }))
    }

    /// `GET /api/websocket/clients[?user=][&offset=][&limit=][&nodes=this|all]`: the connected
    /// clients of this node (of every node sharing through Redis with `?nodes=all`), or a user's on
    /// every node (unless `?nodes=this`), oldest first, a page of them with `offset` or `limit`.
    private func clients(_ request: Request) async throws -> Response {
        let store = try readyStore()
        let user = request.uri.formValue("user")
        let page = try ClientsBody.Page(request.uri)
        // A user's connections are few: asked of every node unless told otherwise. Every node's
        // whole list could be megabytes each: only when asked for.
        let asksOthers = try ClientRemoval.asksOtherNodes(request) && (user != nil || request.uri.formValue("nodes") == "all")
        var body = await Self.clientsBody(
            ofUser: user, first: page.first, listingSubscriptions: !page.countsSubscriptions, runtime: runtime, store: store)
        guard asksOthers else {
            return JSONResponse.make(page.of(user == nil ? body : body.with(otherNodes: .notAsked)))
        }
        // No session can have a user that is not an id: nobody is asked about it.
        let impossibleUser = user.flatMap { FieldRules.identifierProblem($0, maxLength: Limits().maxTargetLength) } != nil
        guard let broadcaster = runtime.broadcaster, !impossibleUser else {
            let otherNodes: RemovedClientsBody.OtherNodes = runtime.broadcaster == nil ? .none : .notAsked
            return JSONResponse.make(page.of(body.with(otherNodes: otherNodes)))
        }
        let lookup: SessionLookup.Target = user.map { .user($0) } ?? .connections
        guard let asked = askOtherNodes(runtime.sessionLookupAnswers, through: broadcaster, { requestID, _ in
            // Each node's oldest rows up to the page's end: no later row of its can be on the page.
            .sessionLookedUp(
                SessionLookup(
                    lookup, requestedOn: runtime.configuration.nodeID, requestID: requestID, first: user == nil ? page.first : nil,
                    countsSubscriptions: page.countsSubscriptions))
        }) else {
            return JSONResponse.make(page.of(body.with(otherNodes: .unreachable)))
        }
        let collected = await asked.collect()
        let (theirs, errors) = collected.bodies(for: lookup, as: ClientsBody.self, what: "a list of connections")
        body.clients += theirs.flatMap(\.clients)
        body.clients.sort { ($0.connectedAt, $0.clientID) < ($1.connectedAt, $1.clientID) }
        // Each node's count is of all its rows, sent or not (a node of an earlier build sends all).
        body.count += theirs.reduce(0) { $0 + $1.count }
        body.unanswered = collected.unanswered
        body.errors = errors.isEmpty ? nil : errors
        return JSONResponse.make(page.of(body.with(otherNodes: .asked)))
    }

    /// This node's connections (of `user`), oldest first (by connection time, then client id), the
    /// oldest `first` of them when it is set; `count` says how many there are in all. Each row
    /// with its subscriptions and their count, or the count alone (`listingSubscriptions` false).
    static func clientsBody(
        ofUser user: String?, first: Int? = nil, listingSubscriptions: Bool = true, runtime: BrokerRuntime, store: EventStore
    ) async -> ClientsBody {
        let matching = runtime.registry.all.filter { user == nil || $0.user == user }
            .sorted { ($0.connectedAt, $0.clientID) < ($1.connectedAt, $1.clientID) }
        let connections = first.map { matching.prefix($0) } ?? matching[...]
        // Only the sets are taken on the store (copies share their storage): sorted there, 1,000
        // clients × 100 subscriptions held up every push and ingest for a sixth of a second.
        let subscriptions = await store.read { projection in
            connections.map { projection.subscriptions.subscriptions(of: $0.clientID) }
        }
        let node = runtime.configuration.nodeID
        let rows = zip(connections, subscriptions).map { ClientRow($0, $1, node: node, listing: listingSubscriptions) }
        return ClientsBody(count: matching.count, clients: rows)
    }

    /// `GET /api/websocket/clients/{client_id}[?nodes=this]`: one session as the journal has it
    /// (connected or gone, why, until when it may be resumed), and its connection when it has one;
    /// a session this node does not have is asked of the other nodes (`SessionLookup`).
    private func client(_ request: Request, _ context: BrokerRequestContext) async throws -> Response {
        let clientID = try Self.pathParameter("client_id", context)
        let asksOthers = try ClientRemoval.asksOtherNodes(request)
        if let body = await Self.clientBody(of: clientID, runtime: runtime, store: try readyStore()) {
            return JSONResponse.make(body)
        }
        guard asksOthers, let broadcaster = runtime.broadcaster, FieldRules.identifierProblem(clientID, maxLength: Limits().maxTargetLength) == nil else {
            throw APIError(
                status: .notFound, error: "unknown_client",
                details: "no session \(clientID) on this node (sessions are per node: nodes sharing through Redis ask the others, unless"
                    + " ?nodes=this; a session expired after its resume window is forgotten)")
        }
        return try await lookUpOnAnotherNode(clientID, through: broadcaster)
    }

    /// The session `clientID` on this node, with its connection when it has one; nil when this
    /// node does not have it.
    static func clientBody(of clientID: String, runtime: BrokerRuntime, store: EventStore) async -> ClientBody? {
        let connection = runtime.registry[clientID]
        let found = await store.read { projection in
            projection.reportRow(ofClient: clientID).map { ($0, projection.subscriptions.subscriptions(of: clientID)) }
        }
        let node = runtime.configuration.nodeID
        return found.map { session, subscriptions in
            ClientBody(session: session, connection: connection.map { ClientRow($0, subscriptions, node: node) })
        }
    }

    private func signals(_ request: Request) async throws -> Response {
        let access = try await marketReadAccess(request)
        let store = try readyStore()
        guard let strategy = request.uri.formValue("strategy"), !strategy.isEmpty else {
            throw APIError.badRequest("missing_strategy", "add ?strategy=<name>, e.g. ?strategy=volume_wave")
        }
        guard access.permits(Subscription(type: .strategy, target: strategy)) else {
            throw MarketDataReads.notAllowed("strategy '\(strategy)'")
        }
        let signals = await store.read { $0.strategies.signals(of: strategy) }
        return JSONResponse.make(SignalsBody(strategy: strategy, count: signals.count, signals: signals))
    }

    /// The strategies with a signal list, by name: what a client may subscribe to as `strategy`
    /// (with an allow-list, those it grants).
    private func strategies(_ request: Request) async throws -> Response {
        let access = try await marketReadAccess(request)
        let store = try readyStore()
        let rows = await store.read { projection in
            projection.strategies.strategyNames.sorted().filter { access.permits(Subscription(type: .strategy, target: $0)) }.map {
                StrategiesBody.Row(name: $0, signalCount: projection.strategies.signals(of: $0).count)
            }
        }
        return JSONResponse.make(StrategiesBody(count: rows.count, strategies: rows))
    }

    // MARK: Writes

    private func pushPrices(_ request: Request) async throws -> Response {
        let store = try readyStore()
        guard let strategy = request.uri.formValue("strategy"), !strategy.isEmpty else {
            throw APIError.badRequest("missing_strategy", "add ?strategy=<name>, e.g. ?strategy=volume_wave")
        }
        let subscription = Subscription(type: .strategy, target: strategy)
        let sink = runtime.sink
        let delivered = await store.read { projection in
            let prices = projection.knownPrices(for: subscription)
            return (UInt64(sink.send(.prices(prices), seq: projection.lastSeq, to: subscription, projection: projection)), prices.count)
        }
        return JSONResponse.make(PushBody(strategy: strategy, clients: delivered.0, prices: delivered.1))
    }

    private func replaceSignals(_ request: Request, _ context: BrokerRequestContext) async throws -> Response {
        let strategy = try Self.pathParameter("strategy", context)
        let body = try await request.decode(as: SignalsInput.self, context: context)
        let signals = body.signals
        let update = SharedUpdate.signalsReplaced(strategy: strategy, signals: signals)
        let recorded = try await execute(.replaceSignals(strategy: strategy, signals: signals), sharing: update)
        // Shared even when this node holds the list already (it records nothing then): so a list
        // can be sent again to nodes that missed it (see README, several nodes).
        if recorded.isEmpty { runtime.share(update) }
        return JSONResponse.make(WriteBody(accepted: signals.count, seq: recorded.last?.seq))
    }

    private func ingestTicks(_ request: Request, _ context: BrokerRequestContext) async throws -> Response {
        let body = try await request.decode(as: TicksInput.self, context: context)
        guard !body.ticks.isEmpty else { throw APIError.badRequest("no_ticks", "send {\"ticks\":[{\"code\",\"name\",\"price\",\"volume\",\"prev_close\"}]}") }
        let now = WallClock.microsecondsNow()
        let fed = body.ticks.map {
            FedTick(code: $0.code, name: $0.name, price: $0.price, volume: $0.volume, prevClose: $0.prevClose, timestamp: now)
        }
        // As sent: what a tick left out, each node fills in from what it knows of the code.
        let recorded = try await execute(.ingestTicks(fed), sharing: .ticks(fed))
        runtime.tickRate.record(fed.count, at: now)
        return JSONResponse.make(WriteBody(accepted: fed.count, seq: recorded.last?.seq))
    }
}

extension APIRoutes {
    private func ingestKlines(_ request: Request, _ context: BrokerRequestContext) async throws -> Response {
        let body = try await request.decode(as: KlinesInput.self, context: context)
        guard !body.klines.isEmpty else { throw APIError.badRequest("no_klines", "send {\"klines\":[{\"code\",\"period\",\"open\",\"high\",\"low\",\"close\",\"volume\",\"start\",\"closed\"}]}") }
        let now = WallClock.microsecondsNow()
        let bars = try body.klines.enumerated().map { index, input in
            KlineBar(
                code: input.code, period: input.period, open: input.open, high: input.high, low: input.low, close: input.close,
                volume: input.volume ?? 0, start: try Self.start(of: input, index: index, now: now), closed: input.closed ?? false)
        }
        // Validate every bar before journaling any, so a bad one leaves nothing behind.
        for (index, bar) in bars.enumerated() {
            // A start in seconds or milliseconds reads as a moment of January 1970 in microseconds.
            if let problem = FieldRules.fedTimeProblem(bar.start) {
                throw APIError.badRequest("invalid_bar", "klines[\(index)]: start \(bar.start) \(problem)")
            }
            do {
                _ = try Decider.decide(.ingestBar(bar), state: Projection(), limits: runtime.brokerLimits)
            } catch {
                throw APIError.badRequest(error.error, "klines[\(index)]: \(error.details)")
            }
            if let problem = FieldRules.futureBarProblem(bar, now: now) {
                throw APIError.badRequest("invalid_bar", "klines[\(index)]: \(problem)")
            }
        }
        // One commit: the batch is journaled whole or not at all.
        let lastSeq = try await execute(.ingestBars(bars), sharing: .bars(bars)).last?.seq
        return JSONResponse.make(WriteBody(accepted: bars.count, seq: lastSeq))
    }

    /// The start of a posted bar: as sent, else the start of the code's current period
    /// (`FieldRules.barStart(period:code:sentAt:)`).
    private static func start(of input: KlinesInput.Bar, index: Int, now: Int64) throws -> Int64 {
        if let start = input.start { return start }
        if let start = FieldRules.barStart(period: input.period, code: input.code, sentAt: now) { return start }
        // An unknown period: the decider refuses it by name.
        guard !FieldRules.barPeriods.contains(input.period) else {
            throw APIError.badRequest(
                "invalid_bar",
                "klines[\(index)]: a \(input.period) bar needs its start (UTC microseconds): \(input.period) bars start where "
                    + "the vendor's hours start (09:30, 10:30, 13:00, 14:00 Asia/Shanghai), which the broker cannot tell")
        }
        return now
    }

    private func publishNews(_ request: Request, _ context: BrokerRequestContext) async throws -> Response {
        let body = try await request.decode(as: NewsInput.self, context: context)
        let hex = String(UInt64.random(in: .min ... .max), radix: 16)
        let item = NewsItem(
            id: body.id ?? "news_\(hex)", title: body.title, summary: body.summary ?? "", url: body.url ?? "",
            codes: body.codes ?? [], category: body.category ?? "general", publishedAt: WallClock.microsecondsNow())
        let recorded = try await execute(.publishNews(item), sharing: .news(item))
        return JSONResponse.make(NewsBody(id: item.id, seq: recorded.last?.seq))
    }

    private func setAlertRule(_ request: Request, _ context: BrokerRequestContext) async throws -> Response {
        let body = try await request.decode(as: AlertRuleInput.self, context: context)
        guard let condition = AlertCondition(rawValue: body.condition) else {
            throw APIError.badRequest(
                "invalid_condition", "condition must be one of \(AlertCondition.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let rule = AlertRule(
            id: body.id ?? AlertRules.newRuleID(), user: body.user, code: body.code, condition: condition, threshold: body.threshold)
        // An identical armed rule records nothing: then there is nothing new to share either.
        try await execute(.setAlertRule(rule), sharing: .alertRuleSet(rule))
        return JSONResponse.make(status: .created, AlertRules.Reply(type: "alert_set", rule: rule))
    }

    /// `GET /api/alerts/rules[?user=&code=&limit=]`: the rules, whose they are, whether they fired.
    private func alertRules(_ request: Request) async throws -> Response {
        let query = try AlertRules.query(request.uri)
        // The book is copied off the store (its storage shared); sorting 100,000 rules holds up no push.
        let book = try await readyStore().read { $0.alerts }
        let (rules, matched) = AlertRules.listing(book, matching: query)
        return JSONResponse.make(AlertRules.ListingBody(count: matched, rules: rules))
    }

    private func removeAlertRule(_ context: BrokerRequestContext) async throws -> Response {
        let id = try Self.pathParameter("id", context)
        guard let owner = try await readyStore().read({ $0.alerts.rule(id: id)?.user }) else {
            throw APIError(status: .notFound, error: "unknown_alert_rule", details: "no alert rule \(id)")
        }
        try await execute(.removeAlertRule(ruleID: id, user: owner), sharing: .alertRuleRemoved(ruleID: id, user: owner))
        return JSONResponse.make(["removed": id])
    }
}

// MARK: Bodies

struct KlinesInput: Decodable {
    struct Bar: Decodable {
        let code: String
        let period: String
        let open: Double
        let high: Double
        let low: Double
        let close: Double
        let volume: Int64?
        /// Start of the bar, UTC microseconds; the current period's when absent.
        let start: Int64?
        let closed: Bool?
    }
    let klines: [Bar]
}

struct NewsInput: Decodable {
    let id: String?
    let title: String
    let summary: String?
    let url: String?
    let codes: [String]?
    let category: String?
}

struct AlertRuleInput: Decodable {
    let id: String?
    let user: String
    let code: String
    let condition: String
    let threshold: Double
}

struct TicksInput: Decodable {
    struct Tick: Decodable {
        let code: String
        let name: String?
        let price: Double
        let volume: Int64?
        let prevClose: Double?

        enum CodingKeys: String, CodingKey {
            case code, name, price, volume
            case prevClose = "prev_close"
        }
    }
    let ticks: [Tick]
}

struct SignalsInput: Decodable {
    /// Only `code` is required; the name defaults to it (`Signal.init(from:)`).
    let signals: [Signal]
}

struct WriteBody: Encodable {
    let accepted: Int
    let seq: UInt64?
}

/// `POST /api/news`: the item's id and the seq it was journaled at.
struct NewsBody: Encodable {
    let id: String
    let seq: UInt64?
}

struct PushBody: Encodable {
    let strategy: String
    let clients: UInt64
    let prices: Int
}

struct SignalsBody: Encodable {
    let strategy: String
    let count: Int
    /// As the journal's events hold them: `code`, `name`, `signal_date`, `reason`.
    let signals: [Signal]
}

struct StrategiesBody: Encodable {
    struct Row: Encodable {
        let name: String
        let signalCount: Int

        enum CodingKeys: String, CodingKey {
            case name
            case signalCount = "signal_count"
        }
    }
    let count: Int
    let strategies: [Row]
}

struct StatsBody: Encodable {
    struct Connections: Encodable {
        let active: Int
        let totalSinceStart: UInt64
        let sessions: Int
        let slowConsumerDisconnects: UInt64
        /// WebSocket upgrades refused since start, by error (`too_many_clients`, `connecting_too_fast`…).
        let refusedUpgrades: [String: UInt64]
        enum CodingKeys: String, CodingKey {
            case active, sessions
            case refusedUpgrades = "refused_upgrades"
            case totalSinceStart = "total_since_start"
            case slowConsumerDisconnects = "slow_consumer_disconnects"
        }
    }
    struct Messages: Encodable {
        let `in`: UInt64
        let out: UInt64
        let outByType: [String: UInt64]
        enum CodingKeys: String, CodingKey {
            case `in`, out
            case outByType = "out_by_type"
        }
    }
    struct Ticks: Encodable {
        let total: UInt64
        let perSecond: Double
        enum CodingKeys: String, CodingKey {
            case total
            case perSecond = "per_second"
        }
    }
    struct JournalInfo: Encodable {
        let lastSeq: UInt64
        let sizeBytes: Int64
        /// What SQLite holds in memory, mostly its page caches: levels off at `journal_cache_mib` per connection.
        let sqliteMemoryBytes: Int64
        let file: String
        /// How hard commits wait for the disk now (`durability`, as last reloaded).
        let durability: String
        /// The page cache each connection may fill now (`journal_cache_mib`, as last reloaded).
        let cacheMiB: Int
        /// Commits that failed since start (their appends were refused), and the latest one's
        /// failure while no commit has succeeded since (null otherwise).
        let failedCommits: UInt64
        let lastCommitFailure: CommitFailureInfo?
        let checkpoints: Checkpoints
        enum CodingKeys: String, CodingKey {
            case file, checkpoints, durability
            case lastSeq = "last_seq"
            case sizeBytes = "size_bytes"
            case sqliteMemoryBytes = "sqlite_memory_bytes"
            case cacheMiB = "cache_mib"
            case failedCommits = "failed_commits"
            case lastCommitFailure = "last_commit_failure"
        }

        // Encoded by hand so that `last_commit_failure` is there as null when there is none.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(lastSeq, forKey: .lastSeq)
            try container.encode(sizeBytes, forKey: .sizeBytes)
            try container.encode(sqliteMemoryBytes, forKey: .sqliteMemoryBytes)
            try container.encode(file, forKey: .file)
            try container.encode(durability, forKey: .durability)
            try container.encode(cacheMiB, forKey: .cacheMiB)
            try container.encode(failedCommits, forKey: .failedCommits)
            try container.encode(lastCommitFailure, forKey: .lastCommitFailure)
            try container.encode(checkpoints, forKey: .checkpoints)
        }
    }
    struct CommitFailureInfo: Encodable {
        let at: String
        let reason: String
    }
    /// Write-ahead log checkpoints: beside the writer, finished by the writer, failed.
    struct Checkpoints: Encodable {
        let background: UInt64
        let writer: UInt64
        let failed: UInt64
    }
    let node: String
    let connections: Connections
    let subscriptions: [String: Int]
    let messages: Messages
    let ticks: Ticks
    let journal: JournalInfo
    let uptimeSeconds: Double
    let redis: RedisSourceSnapshot?
    /// What this node shares with the other nodes through Redis; nil without Redis.
    let redisOutbound: RedisBroadcasterSnapshot?
    /// Where the sentinels say the master is; nil without `redis_sentinels`.
    let redisSentinel: RedisSentinelSnapshot?
    let publishers: [String: PublisherCounts]

    struct PublisherCounts: Encodable {
        let events: UInt64
        let failures: UInt64
        let restarts: UInt64
    }

    enum CodingKeys: String, CodingKey {
        case node, connections, subscriptions, messages, ticks, journal, redis, publishers
        case uptimeSeconds = "uptime_seconds"
        case redisOutbound = "redis_outbound"
        case redisSentinel = "redis_sentinel"
    }
}

struct ClientsBody: Codable {
    /// An answer of another node that could not be read.
    struct NodeError: Codable {
        let node: String
        let error: String
    }

    /// A page of the rows (`?offset=`, `?limit=`): the rows from `offset` on, `limit` of them at
    /// most; every row when neither is given.
    struct Page {
        /// Most rows a page may ask for, and the furthest it may start.
        static let maxLimit = 100_000
        static let maxOffset = 1_000_000

        var offset = 0
        var limit: Int?
        /// Whether either was given (`?offset=0` too): then the answer names the page.
        var asked: Bool
        /// `?subscriptions=count`: each row with the count of its subscriptions, not the list (a
        /// list of connections whose clients follow thousands of targets is mostly their names).
        var countsSubscriptions: Bool

        init(_ uri: URI) throws {
            offset = try uri.offsetValue(max: Self.maxOffset)
            limit = try uri.limitValue(max: Self.maxLimit)
            asked = uri.formValue("offset") != nil || limit != nil
            switch uri.formValue("subscriptions") {
            case nil, "list": countsSubscriptions = false
            case "count": countsSubscriptions = true
            case let other?:
                throw APIError.badRequest(
                    "invalid_subscriptions",
                    "subscriptions must be list (each connection's subscriptions, the default) or count (how many), got '\(other.prefix(40))'")
            }
        }

        /// Rows past the page's end are not needed: nil when it has no end.
        var first: Int? { limit.map { offset + $0 } }

        /// `body` cut to this page (its rows in order), saying which page when one was asked for,
        /// each row with the count of its subscriptions, and the list unless only the count was
        /// asked for (a node of an earlier build sends the list alone).
        func of(_ body: ClientsBody) -> ClientsBody {
            var page = body
            if asked {
                page.clients = Array(body.clients.dropFirst(offset).prefix(limit ?? Int.max))
                page.offset = offset
                page.limit = limit
            }
            page.clients = page.clients.map { countsSubscriptions ? $0.counted : $0.withCount }
            return page
        }
    }

    /// How many connections matched, on the page or not.
    var count: Int
    var clients: [ClientRow]
    /// The page shown, when one was asked for.
    var offset: Int?
    var limit: Int?
    /// For a user's connections: whether the other nodes were asked for theirs.
    var otherNodes: RemovedClientsBody.OtherNodes?
    /// The nodes asked that did not answer in time.
    var unanswered: [String]?
    /// The nodes whose answers could not be read, and why.
    var errors: [NodeError]?

    init(count: Int, clients: [ClientRow]) {
        self.count = count
        self.clients = clients
    }

    /// This, saying whether and how the other nodes were asked.
    func with(otherNodes: RemovedClientsBody.OtherNodes) -> ClientsBody {
        var body = self
        body.otherNodes = otherNodes
        return body
    }

    /// This, when it lists any connection.
    var nonEmpty: ClientsBody? { clients.isEmpty ? nil : self }

    enum CodingKeys: String, CodingKey {
        case count, clients, offset, limit, unanswered, errors
        case otherNodes = "other_nodes"
    }
}

struct ClientBody: Codable {
    /// The session as the journal has it.
    let session: StateReport.Client
    /// Its connection on this node, when it has one.
    let connection: ClientRow?
}

struct ClientRow: Codable {
    struct SubscriptionRow: Codable {
        let type: String
        let target: String
    }
    let clientID: String
    let user: String?
    /// The node the connection is on.
    let node: String?
    let connectedAt: String
    let remote: String?
    /// Its subscriptions, sorted; nil in a list asked for with `?subscriptions=count`.
    var subscriptions: [SubscriptionRow]?
    /// How many subscriptions it holds; nil in a row of a node of an earlier build, which sends
    /// the list alone.
    var subscriptionCount: Int?
    let messagesIn: UInt64
    let messagesOut: UInt64
    let queueDepth: Int
    /// How many messages its queue holds before its prices are coalesced (`outbound_queue` when it
    /// connected); nil from a node of an older build.
    let queueCapacity: Int?
    /// The connection's price interval in seconds (0: updates are not held back).
    let priceInterval: Double
    /// Whether the connection negotiated permessage-deflate.
    let compression: Bool

    enum CodingKeys: String, CodingKey {
        case user, node, remote, subscriptions, compression
        case subscriptionCount = "subscription_count"
        case clientID = "client_id"
        case connectedAt = "connected_at"
        case messagesIn = "messages_in"
        case messagesOut = "messages_out"
        case queueDepth = "queue_depth"
        case queueCapacity = "queue_capacity"
        case priceInterval = "price_interval"
    }
}

extension ClientRow {
    /// The row of a live connection on `node` holding `subscriptions`: them and their count, or
    /// (`listing` false) their count alone.
    init(_ connection: LiveConnection, _ subscriptions: Set<Subscription>, node: String, listing: Bool = true) {
        self.init(
            clientID: connection.clientID, user: connection.user, node: node,
            connectedAt: WireTime.format(microseconds: connection.connectedAt), remote: connection.remoteAddress,
            subscriptions: listing ? subscriptions.sorted().map { .init(type: $0.type.rawValue, target: $0.target) } : nil,
            subscriptionCount: subscriptions.count, messagesIn: connection.messagesIn, messagesOut: connection.messagesOut,
            queueDepth: connection.queueDepth,
            queueCapacity: connection.writer.capacity, priceInterval: Duration(connection.writer.fanOut.priceInterval).inSeconds,
            compression: connection.writer.fanOut.compresses)
    }

    /// This row with the count of its subscriptions and not the list (`?subscriptions=count`), also
    /// when a node of an earlier build sent the list.
    var counted: ClientRow {
        var row = withCount
        row.subscriptions = nil
        return row
    }

    /// This row with the count of its subscriptions, counted from the list when a node of an
    /// earlier build sent the list alone.
    var withCount: ClientRow {
        var row = self
        row.subscriptionCount = subscriptionCount ?? subscriptions?.count ?? 0
        return row
    }
}
