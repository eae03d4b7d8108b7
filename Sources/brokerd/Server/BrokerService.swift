import Broker
import Foundation
import Journal
import Logging
import NIOPosix
import Publishers
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The broker's own lifecycle around the HTTP server: replays the journal, opened before the server
/// listens (the server answers 503 meanwhile), sweeps heartbeats and expired sessions, and on SIGTERM closes every
/// client, journals the disconnects, snapshots and closes the journal.
struct BrokerService: Service {
    let runtime: BrokerRuntime
    /// Open, its lock held: `brokerd serve` opens it before anything listens.
    let journal: Journal

    private var configuration: Configuration { runtime.configuration }
    private var logger: Logger { runtime.logger }

    func run() async throws {
        // First: the sources and the publisher open their connections at the master it finds.
        await runtime.sentinel?.start()
        // Publishing starts before the routes can ingest anything, so nothing journaled goes unshared.
        // What this process appends to the shared log, for its reader of the log.
        let ownEntries = OwnLogEntries()
        let broadcaster = try startBroadcaster(ownEntries: ownEntries)
        let (store, replayedThrough, pricesAtStart) = try await startUp()
        let sources = await tickSources(store, lastTicks: pricesAtStart)
        let redis = try await startRedis(store, origin: broadcaster?.origin, ownEntries: ownEntries)
        // Outside the group below: a publisher slow to stop (one ignoring cancellation, say) must
        // not keep the broker from closing its clients and snapshotting; it gets a moment, no more.
        let publishersStopped = OnceFlag()
        let publishing = Task {
            await runtime.publishers.run(PublisherContext(store: store, replayedThrough: replayedThrough, pricesAtStart: pricesAtStart))
            publishersStopped.set()
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await sweep(store) }
            group.addTask { await recordSignsOfLife() }
            if let systemd = runtime.systemd {
                group.addTask { await report(to: systemd, store: store) }
            }
            if let broadcaster {
                group.addTask { await announce(to: broadcaster, store: store) }
            }
            for source in sources {
                group.addTask { await feed(store, from: source) }
            }
            try? await gracefulShutdown()
            runtime.systemd?.stopping(drain: runtime.settings.configuration.shutdownDrain, clients: runtime.registry.count)
            // Ticks and the API go on while the clients are closed a few at a time.
            await drain()
            // At once: /readyz turns away new traffic and ingest stops while the rest winds down.
            runtime.beginShutdown()
            group.cancelAll()
            publishing.cancel()
        }
        await wait(for: publishersStopped, atMost: Self.publisherStopGrace, "publishers")
        if let redis { await stop("the Redis tick source", atMost: Self.redisStopGrace) { await redis.stop() } }
        await shutDown(journal: journal, store: store)
        // Last, so what the final sessions' commands shared still goes out; and the others forget this node.
        if let broadcaster {
            broadcaster.offer(.nodeHeartbeat(await runtime.heartbeat(store: store, state: .stopped)))
            await stop("the Redis publisher", atMost: Self.redisStopGrace) { await broadcaster.stop() }
        }
        if let sentinel = runtime.sentinel { await stop("the Redis sentinel watcher", atMost: Self.redisStopGrace) { await sentinel.stop() } }
    }

    /// Waits until `stopped` is set, at most `grace`; says so when it goes on without it.
    private func wait(for stopped: OnceFlag, atMost grace: Duration, _ what: String) async {
        let deadline = ContinuousClock.now + grace
        while !stopped.isSet && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        if !stopped.isSet {
            logger.warning("\(what) still running at shutdown; not waiting for it", metadata: ["waited": "\(grace)"])
        }
    }

    /// Stops a part that waits for threads of its own, at most `grace`: a thread blocked where
    /// nothing can wake it must not keep the broker from closing its clients and its journal.
    private func stop(_ what: String, atMost grace: Duration, _ stop: @escaping @Sendable () async -> Void) async {
        let stopped = OnceFlag()
        Task {
            await stop()
            stopped.set()
        }
        await wait(for: stopped, atMost: grace, what)
    }

    /// Starts the outbound publisher when a Redis URL is configured: ticks, news and alert rules
    /// ingested on this node go to the other nodes, tagged with this node's id.
    private func startBroadcaster(ownEntries: OwnLogEntries) throws -> RedisBroadcaster? {
        guard let url = configuration.redis.url else { return nil }
        let broadcaster = RedisBroadcaster(
            url: url, address: runtime.redisAddress, channels: SharedChannels(tickChannel: configuration.redis.channel),
            origin: NodeOrigin(node: configuration.nodeID), logLength: configuration.redis.sharedLogLength,
            ownEntries: ownEntries, secrets: runtime.sharedSecrets, healthCheckInterval: configuration.redis.healthCheckInterval,
            logger: logger)
        broadcaster.start()
        runtime.attachBroadcaster(broadcaster)
        logger.info(
            "sharing with other nodes through Redis",
            metadata: [
                "node": "\(configuration.nodeID)", "instance": "\(broadcaster.origin.instance)",
                "channels": "\([broadcaster.channels.ticks, broadcaster.channels.news, broadcaster.channels.alerts, broadcaster.channels.signals, broadcaster.channels.klines, broadcaster.channels.removals, broadcaster.channels.nodes].joined(separator: ","))",
                "log": "\(broadcaster.logLength == nil ? "-" : broadcaster.channels.log)",
            ])
        return broadcaster
    }

    /// Starts the Redis tick source when a URL is configured; stream reading resumes right after
    /// the last entry journaled by a previous run. It also ingests the news, alert rules, signal
    /// lists and k-line bars other nodes share, and skips what `origin` (this node) published
    /// itself; the shared log is read on from where this node's journal left it, so what the others
    /// shared while it was down comes in too.
    private func startRedis(_ store: EventStore, origin: NodeOrigin?, ownEntries: OwnLogEntries) async throws -> RedisTickSource? {
        guard let url = configuration.redis.url else { return nil }
        let channels = SharedChannels(tickChannel: configuration.redis.channel)
        let source = configuration.redis.stream.map { "redis-stream:\($0)" }
        let log = configuration.redis.sharedLogLength == nil ? nil : channels.log
        let logSource = log.map { "redis-log:\($0)" }
        let (resumeAfter, logResumeAfter) = await store.read { projection in
            (source.flatMap { projection.sourcePositions[$0] }, logSource.flatMap { projection.sourcePositions[$0] })
        }
        let tickRate = runtime.tickRate
        let logger = logger
        let redis = try RedisTickSource(
            configuration: RedisTickSourceConfiguration(
                url: url, address: runtime.redisAddress, channel: channels.ticks, stream: configuration.redis.stream,
                newsChannel: channels.news, alertsChannel: channels.alerts, signalsChannel: channels.signals,
                klinesChannel: channels.klines, removalsChannel: channels.removals, nodesChannel: channels.nodes, log: log, node: origin,
                healthCheckInterval: configuration.redis.healthCheckInterval, secrets: runtime.sharedSecrets),
            resumeAfter: resumeAfter, logResumeAfter: logResumeAfter, ownEntries: ownEntries, logger: logger,
            deliverShared: { [runtime] update in
                guard let command = update.command else {
                    switch update {
                    case .userRemoved(let removal): ClientRemoval.removeAsAskedOnAnotherNode(removal, runtime: runtime, store: store)
                    case .userRemovalAnswered(let answer) where answer.askedOn == runtime.configuration.nodeID:
                        runtime.userRemovalAnswers.deliver(answer)
                    case .sessionRemoved(let removal): ClientRemoval.removeAsAskedOnAnotherNode(removal, runtime: runtime, store: store)
                    case .sessionRemovalAnswered(let answer) where answer.askedOn == runtime.configuration.nodeID:
                        runtime.sessionRemovalAnswers.deliver(answer)
                    case .sessionLookedUp(let lookup): lookup.answer(on: runtime, store: store)
                    case .sessionLookupAnswered(let answer) where answer.askedOn == runtime.configuration.nodeID:
                        runtime.sessionLookupAnswers.deliver(answer)
                    case .nodeHeartbeat(let heartbeat):
                        let now = WallClock.microsecondsNow()
                        if !runtime.cluster.record(heartbeat, at: now) {
                            runtime.staleMessages.log(
                                "a node's heartbeat sent too far from this node's clock is left out: delayed, replayed, or the clocks are apart",
                                key: "heartbeat",
                                metadata: ["node": "\(heartbeat.origin.node)", "seconds_behind": "\((now - heartbeat.sentAt) / 1_000_000)"],
                                logger: runtime.logger, level: .warning)
                        }
                    default: break
                    }
                    return
                }
                // Journaled here as if ingested here, but not shared again: it came from a node.
                try await store.execute(command)
            },
            deliverLogged: { update, own, position in
                guard let logSource else { return }
                // The log holds news, alert rules, signal lists and bars: each is a command.
                if let update, let command = update.command, own {
                    // Asked again once its strategy or rule is held: a write of it this node took
                    // since (queued for the log) supersedes it, and comes later in the log.
                    try await store.execute(
                        .applyLogged(command, own: true, source: logSource, position: position),
                        revisedOnStore: { command in
                            ownEntries.hasUnread(update) ? .ingestFromSource([], source: logSource, position: position) : command
                        })
                } else if let command = update?.command {
                    try await store.execute(.applyLogged(command, own: false, source: logSource, position: position))
                } else {
                    try await store.execute(.ingestFromSource([], source: logSource, position: position))
                }
            }
        ) { batch in
            if let position = batch.streamID, let source {
                try await store.execute(.ingestFromSource(batch.ticks, source: source, position: position))
            } else if !batch.ticks.isEmpty {
                try await store.execute(.ingestTicks(batch.ticks))
            }
            tickRate.record(batch.ticks.count, at: WallClock.microsecondsNow())
        }
        redis.start()
        runtime.attachRedis(redis)
        logger.info(
            "redis source started",
            metadata: [
                "url": "\(url)", "channel": "\(configuration.redis.channel)", "stream": "\(configuration.redis.stream ?? "-")",
                "resume_after": "\(resumeAfter ?? "-")", "log": "\(log ?? "-")", "log_resume_after": "\(logResumeAfter ?? "-")",
            ])
        return redis
    }

    /// Replays the journal; returns the last seq replayed and the latest tick of every code then,
    /// before anything new came in.
    private func startUp() async throws -> (EventStore, replayedThrough: UInt64, pricesAtStart: [String: PriceTick]) {
        let started = ContinuousClock.now
        let path = configuration.journalPath
        let store = try EventStore(
            journal: journal, limits: runtime.brokerLimits, snapshotInterval: UInt64(configuration.snapshotInterval), logger: logger)
        await store.setObserver(runtime.publishers)
        let recovery = store.recovery
        // Clients connected when the last process died are gone now; they may resume within the window.
        let now = WallClock.microsecondsNow()
        let resumeWindow = runtime.resumeWindowMicroseconds
        let deadline = now + resumeWindow
        // The downtime does not count against a resume window: sessions the broker still held as
        // resumable when it stopped (closed by its shutdown, or by their clients shortly before)
        // get their deadline moved on by the time it was down, as the stranded get a whole window.
        // When the broker was last alive: its last event, or the sign of life it records every few
        // seconds and at its shutdown (a journal of an older build: the snapshot its shutdown
        // wrote last). Never a time still to come: the rows stamped with it would be.
        let lastSignOfLife = min(journal.lastAliveBeforeOpen ?? recovery.snapshotTimestamp ?? 0, now)
        let (stoppedAt, stranded, moved) = await store.read { projection -> (Int64, [ClientDisconnected], [ClientDisconnected]) in
            let stoppedAt = max(projection.lastTimestamp, lastSignOfLife)
            let downtime = max(0, now - stoppedAt)
            var stranded: [ClientDisconnected] = [], moved: [ClientDisconnected] = []
            for client in projection.clients.values.sorted(by: { $0.id < $1.id }) {
                switch client.state {
                case .connected:
                    stranded.append(ClientDisconnected(clientID: client.id, reason: .brokerRestart, resumeDeadline: deadline))
                case .gone(_, let reason, let until) where until >= stoppedAt && downtime > 0 && resumeWindow > 0:
                    moved.append(ClientDisconnected(clientID: client.id, reason: reason, resumeDeadline: until + downtime))
                case .gone:
                    break
                }
            }
            return (stoppedAt, stranded, moved)
        }
        // Their connections ended with the last process, not now: journaled at its last sign of
        // life, so an audit of a moment of the downtime does not show them connected.
        if !stranded.isEmpty {
            try await store.append(stranded.map { .clientDisconnected($0) }, stampedAt: stoppedAt)
        }
        if !moved.isEmpty {
            try await store.append(moved.map { .clientDisconnected($0) })
        }
        // Nothing is ingested before the store is handed over (ready), so this is the state as of readySeq.
        let (readySeq, pricesAtStart) = await store.read { ($0.lastSeq, $0.lastPrices) }
        runtime.becomeReady(with: store)
        // What a reload during the replay changed (it found no store to give them to).
        await store.setLimits(runtime.brokerLimits)
        await store.setSnapshotInterval(runtime.snapshotInterval)
        await runtime.applyJournalSettings(to: journal)
        runtime.systemd?.replayed(through: readySeq)
        let elapsed = ContinuousClock.now - started
        logger.info(
            "journal replayed, ready",
            metadata: [
                "journal": "\(path)", "seq": .stringConvertible(readySeq),
                "snapshot": "\(recovery.snapshotSeq.map(String.init) ?? "none")",
                "replayed": .stringConvertible(recovery.replayedEvents), "stranded_sessions": .stringConvertible(stranded.count),
                "elapsed": "\(elapsed)",
            ])
        return (store, readySeq, pricesAtStart)
    }

    /// How long a shutdown waits for the publishers to stop before it goes on without them.
    static let publisherStopGrace: Duration = .seconds(2)
    /// How long a shutdown waits for a Redis part's threads: longer than their I/O timeouts (a
    /// connect, AUTH or SELECT, a read), after which each notices the stop by itself.
    static let redisStopGrace: Duration = .seconds(5)

    /// The tick sources to run: the simulator unless it is off or Redis feeds the broker.
    private func tickSources(_ store: EventStore, lastTicks: [String: PriceTick]) async -> [any TickSource] {
        guard configuration.simulator.isEnabled, configuration.redis.url == nil else { return [] }
        let market: SimulatedMarket, origin: SimulatedMarket.Origin
        do throws(SimulatedMarketError) {
            (market, origin) = try SimulatedMarket.locate(path: configuration.simulator.signalsPath, limits: runtime.brokerLimits)
        } catch {
            // Never the built-in market instead: a file that is there was meant to be traded.
            let hint = configuration.simulator.signalsPath == nil
                ? "fix the file, or remove it to trade the built-in market"
                : "fix the file, or leave simulator_signals out to trade \(SimulatedMarket.defaultPath) or the built-in market"
            logger.warning("simulator off: the signals file cannot be used", metadata: ["signals": "\(error.path)", "reason": "\(error.reason)", "hint": "\(hint)"])
            return []
        }
        // Seed the simulated strategies once; later runs keep whatever signals were journaled since.
        for (strategy, signals) in market.signalLists where await store.read({ $0.strategies.signals(of: strategy).isEmpty }) {
            do {
                try await store.execute(.replaceSignals(strategy: strategy, signals: signals))
            } catch {
                logger.warning("could not seed simulated strategy", metadata: ["strategy": "\(strategy)", "error": "\(error)"])
            }
        }
        logger.info(
            "simulator on",
            metadata: [
                "ticks_per_second": .stringConvertible(runtime.simulatorRate.ticksPerSecond), "stocks": .stringConvertible(market.stocks.count),
                "market": "\(origin)",
            ])
        return [SimulatorSource(
            market: market, rate: runtime.simulatorRate,
            maxTicksPerBatch: runtime.brokerLimits.maxTicksPerBatch, lastTicks: lastTicks)]
    }

    /// Runs a source until shutdown, journaling each batch it delivers.
    private func feed(_ store: EventStore, from source: any TickSource) async {
        let tickRate = runtime.tickRate
        let logger = logger
        // Only this task touches it: the source calls back one batch at a time.
        let streak = Mutex(FailureStreak())
        do {
            try await source.run { ticks in
                do {
                    try await store.execute(.ingestTicks(ticks.map(FedTick.init)))
                    tickRate.record(ticks.count, at: WallClock.microsecondsNow())
                    if let failures = streak.withLock({ $0.succeeded() }) {
                        logger.notice("tick batches ingested again", metadata: ["source": "\(source.name)", "failed_batches": .stringConvertible(failures)])
                    }
                } catch {
                    // A refused or unjournaled batch is lost for this source only; the next one may pass.
                    if let failures = streak.withLock({ $0.failed() }) {
                        logger.warning(
                            "tick batch not ingested (while this goes on, logged once a minute)",
                            metadata: ["source": "\(source.name)", "error": "\(error)", "failed_batches": .stringConvertible(failures)])
                    }
                }
            }
        } catch is CancellationError {
        } catch {
            logger.error("tick source stopped", metadata: ["source": "\(source.name)", "error": "\(error)"])
        }
    }

    /// Closes idle connections, those that stopped reading and those whose token expired, and
    /// forgets sessions whose resume window has passed.
    private func sweep(_ store: EventStore) async {
        var tick = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(250))
            let heartbeatMicroseconds = runtime.heartbeatTimeout.microseconds
            let stallMicroseconds = runtime.connectionLimits.slowConsumerTimeout.microseconds
            let now = WallClock.microsecondsNow()
            // Silence and stalls on the monotonic clock: a wall clock step must not close everyone.
            let elapsed = ElapsedClock.microsecondsNow()
            for connection in runtime.registry.all {
                if elapsed - connection.idleSince > heartbeatMicroseconds {
                    // Once: a connection whose end is still being journaled stays listed meanwhile.
                    if connection.requestClose(.heartbeatTimeout) {
                        logger.info("heartbeat timeout", metadata: ["client": "\(connection.clientID)"])
                    }
                } else if connection.writer.stalledFor(at: elapsed) > stallMicroseconds {
                    connection.closeAsSlowConsumer()
                } else if let expiry = connection.tokenExpiresAt, now >= expiry, connection.requestClose(.tokenExpired) {
                    logger.info("token expired", metadata: ["client": "\(connection.clientID)", "user": "\(connection.user ?? "-")"])
                }
            }
            tick += 1
            guard tick % 20 == 0 else { continue }
            let expired = await store.read { projection in
                projection.clients.values.filter { !$0.isConnected && !$0.isResumable(at: now) }.map(\.id).sorted()
            }
            for clientID in expired {
                // Refused (resumed meanwhile) or not journaled (the disk): the next sweep looks again.
                _ = try? await runtime.expireSession(clientID, in: store)
            }
        }
    }

    /// How often the broker records in the journal that it is alive.
    static let signOfLifeInterval: Duration = .seconds(5)

    /// Records the broker's sign of life in the journal every few seconds: how the next start tells
    /// when this process was last alive if it crashes (its sessions' disconnects are stamped with
    /// it, and the downtime is counted from it).
    private func recordSignsOfLife() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.signOfLifeInterval)
            // Not recorded (disk full, say): the next start counts from an earlier sign, or the last event.
            try? await journal.recordAlive()
        }
    }

    /// Keeps systemd's status line current (clients, ticks/s, the journal's seq), every few
    /// seconds, and feeds its watchdog when it has one: each ping only after the store answered a
    /// read, the journal's writer thread ran a job (it records a sign of life) and every event loop
    /// ran a task, so a broker whose store, journal writes or loops hang is restarted.
    private func report(to systemd: SystemdNotifier, store: EventStore) async {
        let interval = min(Self.statusInterval, (systemd.watchdogTimeout ?? Self.statusInterval) / 2)
        var shown = ""
        var lastStatus = ContinuousClock.now - Self.statusInterval
        while !Task.isCancelled {
            let started = ContinuousClock.now
            let seq = await store.read { $0.lastSeq }
            if let timeout = systemd.watchdogTimeout {
                // The store does not wait on the journal's writer while it commits (reads go on),
                // so the writer is asked itself: a job returns, a failing disk's error too; a hung one not.
                try? await journal.recordAlive()
                for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() {
                    try? await loop.submit {}.get()
                }
                let took = ContinuousClock.now - started
                if took > timeout / 4 {
                    logger.warning("the store, the journal's writer and the event loops were slow to answer the watchdog's check", metadata: ["took": "\(took)"])
                }
                systemd.watchdogPing()
            }
            // Not before READY=1, whose own status says the broker is ready.
            if ContinuousClock.now - lastStatus >= Self.statusInterval && systemd.isReady {
                let status = "serving \(runtime.registry.count) clients, \(Int(runtime.tickRate.perSecond.rounded())) ticks/s, journal seq \(seq)"
                if status != shown && !runtime.isShuttingDown && !runtime.isDraining {
                    systemd.status(status)
                    shown = status
                }
                lastStatus = ContinuousClock.now
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// Tells the other nodes every few seconds that this one is there, and how it is doing
    /// (`NodeHeartbeat`, `GET /api/cluster`): first once the publisher is connected (sent before,
    /// it would be dropped), then every interval, and at once when a node is heard from for the
    /// first time or this one begins to drain.
    private func announce(to broadcaster: RedisBroadcaster, store: EventStore) async {
        var last: (at: ContinuousClock.Instant, state: NodeHeartbeat.State)?
        while !Task.isCancelled {
            let state = runtime.nodeState
            let due = last.map { ContinuousClock.now - $0.at >= NodeHeartbeat.interval || $0.state != state }
                ?? (broadcaster.snapshot.state == .connected)
            if runtime.cluster.takeAnswerRequest() || due {
                broadcaster.offer(.nodeHeartbeat(await runtime.heartbeat(store: store, state: state)))
                last = (.now, state)
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// How often systemd's status line is brought up to date.
    static let statusInterval: Duration = .seconds(5)

    /// With `shutdown_drain`, closes the connected clients evenly over it (`DrainSchedule`), in no
    /// particular order, refusing new ones meanwhile; each is closed as at shutdown (1001, journaled
    /// `shutdown`, resumable). Whoever is left when it ends, or connects meanwhile through an
    /// upgrade already admitted, is closed by the shutdown that follows. A second SIGTERM or SIGINT
    /// cuts it short: the shutdown then closes the rest at once.
    private func drain() async {
        let drainSetting = runtime.settings.configuration
        let period = drainSetting.shutdownDrain
        guard period > .zero else { return }
        runtime.beginDraining()
        // The signal that began the drain went to the service group before this sequence existed.
        let again = OnceFlag()
        let hurry = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) {
                again.set()
                return
            }
        }
        defer { hurry.cancel() }
        var waiting = runtime.registry.all.shuffled()
        let schedule = DrainSchedule(total: waiting.count, period: period)
        logger.info("draining: closing the clients a few at a time", metadata: [
            "clients": .stringConvertible(waiting.count), "seconds": "\(drainSetting.value(of: .shutdownDrain) ?? "-")",
        ])
        let start = ContinuousClock.now
        var closed = 0
        while !waiting.isEmpty && !Task.isCancelled && !again.isSet {
            let due = schedule.due(after: ContinuousClock.now - start)
            while closed < due, let next = waiting.popLast() {
                next.requestClose(.shutdown)
                closed += 1
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if again.isSet {
            logger.notice("drain cut short by a second signal", metadata: ["closed": .stringConvertible(closed), "left": .stringConvertible(waiting.count)])
        } else {
            logger.info("drained", metadata: ["closed": .stringConvertible(closed)])
        }
    }

    private func shutDown(journal: Journal, store: EventStore) async {
        runtime.beginShutdown()
        let connections = runtime.registry.all
        logger.info("shutting down", metadata: ["clients": .stringConvertible(connections.count)])
        for connection in connections { connection.requestClose(.shutdown) }
        // Each session journals its own disconnect as it ends; wait for them, but not forever.
        let deadline = ContinuousClock.now + .seconds(5)
        while runtime.registry.count > 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        // Sessions that did not end in time are journaled here, so every client has its disconnect.
        let now = WallClock.microsecondsNow()
        let remaining = await store.read { projection in projection.clients.values.filter(\.isConnected).map(\.id).sorted() }
        if !remaining.isEmpty {
            _ = try? await store.append(remaining.map {
                .clientDisconnected(ClientDisconnected(clientID: $0, reason: .shutdown, resumeDeadline: now + runtime.resumeWindowMicroseconds))
            })
        }
        do {
            try await store.snapshot()
        } catch {
            logger.error("final snapshot failed", metadata: ["error": "\(error)"])
        }
        // Last: the downtime the next start credits to resumable sessions is counted from here.
        do {
            try await journal.recordAlive()
        } catch {
            logger.warning("could not record the time of the shutdown", metadata: ["error": "\(error)"])
        }
        journal.close()
        logger.info("journal closed", metadata: ["seq": .stringConvertible(journal.lastSeq)])
    }
}

