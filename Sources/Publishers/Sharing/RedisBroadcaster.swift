import Broker
import Dispatch
import Logging
import Synchronization

/// Publishes what this node ingested (`SharedUpdate`s) to the other nodes over Redis pub/sub,
/// and appends all but ticks to the shared log (a stream, `SharedChannels.log`), without ever
/// making the caller wait.
///
/// `offer` only appends to a bounded queue, so it is safe on an event loop or inside the store.
/// One thread of its own, with its own hiredis connection, empties the queue: a pipeline of the
/// log's XADDs, when the batch has entries for it, then one of PUBLISHes. While Redis is down,
/// ticks are dropped and counted at once, and what is for the log is held (bounded) and appended
/// to it, unpublished, when the connection is back: the local journal and clients are not
/// affected, and the outage is logged once. Dropped ticks are never sent later, because the other
/// nodes would then get stale prices after newer ones. Runs once: `start()` then `stop()`.
public final class RedisBroadcaster: Sendable {
    private enum Lifecycle { case idle, running, stopped }

    private struct State {
        var lifecycle = Lifecycle.idle
        var queue: [SharedUpdate] = []
        /// `approximateBytes` of what is queued.
        var queuedBytes = 0
        /// False during an outage: offers are dropped instead of queued (or held).
        var accepting = true
        /// Updates for the shared log taken during an outage, in the order they were offered:
        /// appended to the log (not published) once Redis is back, before anything queued since.
        var held: [SharedUpdate] = []
        var heldBytes = 0
        var inOutage = false
        var droppedBeforeOutage = 0
        /// A full queue is logged once per episode (until it drains).
        var full = false
        var refusalLogged = false
        var snapshot: RedisBroadcasterSnapshot
    }

    /// The channels the updates go to.
    public let channels: SharedChannels
    /// The tags every message carries.
    public let origin: NodeOrigin
    /// Whether it appends to the shared log (it was given a `logLength`).
    public let writesLog: Bool
    /// About how many entries the shared log keeps, as last set (`setLogLength`).
    private let trimLength: Atomic<Int>
    /// Where the entries appended are counted for this node's log reader.
    private let ownEntries: OwnLogEntries?
    /// With a shared secret (`redis_secret`, as last reloaded): signs every message and log entry.
    private let secrets: SharedSecrets
    /// Where it publishes; a move (a reload of `redis_url`) makes it reconnect there.
    private let address: RedisAddress
    private let capacity: Int
    private let capacityBytes: Int
    private let connectTimeout: Duration
    private let ioTimeout: Duration
    private let healthCheckInterval: Duration
    private let backoff: ReconnectBackoff
    private let state: Mutex<State>
    /// Signalled when the queue goes from empty to non-empty, and on stop.
    private let pending = DispatchSemaphore(value: 0)
    private let control = ReaderThreadControl()
    private let logger: Logger

    /// About how many entries the shared log keeps (`XADD MAXLEN ~`), as last set; nil appends
    /// nothing to it.
    public var logLength: Int? { writesLog ? trimLength.load(ordering: .relaxed) : nil }

    /// Trims the shared log to about `length` entries (at least 1) from the next append on (a
    /// reload of `redis_log_length`); nothing when it writes no log.
    public func setLogLength(_ length: Int) {
        guard writesLog else { return }
        trimLength.store(max(1, length), ordering: .relaxed)
    }

    /// Most PUBLISHes sent in one pipeline, bounding the buffers of one round trip.
    static let maxPipeline = 1_000

    /// Creates a stopped publisher. `ioTimeout` bounds every write and reply, so a Redis that
    /// vanished without closing the connection cannot hold the thread; when nothing was published
    /// for `healthCheckInterval` the thread PINGs, so an outage shows in the stats while idle too.
    public init(
        url: RedisURL, address: RedisAddress? = nil, channels: SharedChannels, origin: NodeOrigin, logLength: Int? = nil,
        ownEntries: OwnLogEntries? = nil,
        secrets: SharedSecrets = SharedSecrets(), capacity: Int = 10_000,
        capacityBytes: Int = 64 << 20,
        connectTimeout: Duration = .seconds(2), ioTimeout: Duration = .seconds(2),
        healthCheckInterval: Duration = .seconds(5), backoff: ReconnectBackoff = .init(),
        logger: Logger = Logger(label: "brokerd.redis")
    ) {
        self.address = address ?? RedisAddress(url)
        self.channels = channels
        self.origin = origin
        writesLog = logLength != nil
        trimLength = Atomic(max(1, logLength ?? 1))
        self.ownEntries = ownEntries
        self.secrets = secrets
        self.capacity = max(1, capacity)
        self.capacityBytes = max(1, capacityBytes)
        self.connectTimeout = connectTimeout
        self.ioTimeout = ioTimeout
        self.healthCheckInterval = healthCheckInterval
        self.backoff = backoff
        self.logger = logger
        state = Mutex(State(snapshot: RedisBroadcasterSnapshot(
            node: origin.node, capacity: max(1, capacity), capacityBytes: max(1, capacityBytes))))
        // A move wakes the thread from a backoff sleep or its wait for updates; it then connects anew.
        self.address.onMove { [control, pending] in
            control.requestReconnect()
            pending.signal()
        }
    }

    /// State and counters, consistent with each other.
    public var snapshot: RedisBroadcasterSnapshot {
        state.withLock { state in
            var snapshot = state.snapshot
            snapshot.queued = state.queue.count
            snapshot.queuedBytes = state.queuedBytes
            snapshot.held = state.held.count
            return snapshot
        }
    }

    /// Queues `update` for the other nodes; never blocks. False when it was dropped (not started
    /// or stopped, the queue full, or Redis down and the update not for the log or the log's hold
    /// full) — it is counted then, and the caller goes on.
    @discardableResult
    public func offer(_ update: SharedUpdate) -> Bool {
        enum Outcome { case queued(wake: Bool), held, dropped, droppedQueueFull }
        let outcome = state.withLock { state -> Outcome in
            guard state.lifecycle == .running else {
                if !update.isHeartbeat { state.snapshot.dropped += 1 }
                return .dropped
            }
            guard state.accepting else {
                guard hold(update, in: &state) else {
                    if !update.isHeartbeat { state.snapshot.dropped += 1 }
                    return .dropped
                }
                return .held
            }
            // Bounded by count and by memory: 10,000 lists of 5,000 signals would hold gigabytes.
            // One update larger than the whole bound still goes when the queue is empty.
            let bytes = update.approximateBytes
            guard state.queue.count < capacity, state.queue.isEmpty || state.queuedBytes + bytes <= capacityBytes else {
                if !update.isHeartbeat { state.snapshot.dropped += 1 }
                defer { state.full = true }
                return state.full ? .dropped : .droppedQueueFull
            }
            state.queue.append(update)
            // Counted as it is queued, in the order it was journaled, so this node's log reader
            // knows of every own entry still to come (see `OwnLogEntries`).
            if writesLog { ownEntries?.appending(update) }
            state.queuedBytes += bytes
            return .queued(wake: state.queue.count == 1)
        }
        switch outcome {
        case .queued(let wake):
            if wake { pending.signal() }
            return true
        case .held:
            return true
        case .droppedQueueFull:
            logger.warning(
                "Redis publish queue full; updates for other nodes are dropped until it drains",
                metadata: ["capacity": .stringConvertible(capacity), "capacity_bytes": .stringConvertible(capacityBytes)])
            return false
        case .dropped:
            return false
        }
    }

    /// Connects and starts the publisher thread; later calls do nothing.
    public func start() {
        let shouldStart = state.withLock { state in
            guard state.lifecycle == .idle else { return false }
            state.lifecycle = .running
            state.snapshot.state = .connecting
            return true
        }
        guard shouldStart else { return }
        ReaderThreadControl.spawn(name: "redis-pub:\(channels.ticks)") { [self] in run() }
    }

    /// Refuses further offers, publishes what is queued if Redis is there (each write bounded by
    /// `ioTimeout`), and returns once the thread has ended.
    public func stop() async {
        let wasRunning = state.withLock { state in
            defer { state.lifecycle = .stopped }
            return state.lifecycle == .running
        }
        guard wasRunning else { return }
        control.requestStop()
        pending.signal()
        await control.waitUntilFinished()
    }

    // MARK: The publisher thread

    private func run() {
        var backoff = self.backoff
        defer {
            let heldAtStop = state.withLock { state in
                defer {
                    state.queue = []
                    state.queuedBytes = 0
                    state.held = []
                    state.heldBytes = 0
                    state.snapshot.state = .stopped
                }
                state.snapshot.dropped += (state.queue + state.held).count { !$0.isHeartbeat }
                takeBack(state.queue)
                takeBack(state.held)
                return state.held.count
            }
            if heldAtStop > 0 {
                logger.warning(
                    "stopped with updates held for the shared log while Redis was down: the other nodes will not get them",
                    metadata: ["held": .stringConvertible(heldAtStop)])
            }
            control.finish()
        }
        while !control.isStopping {
            setState(.connecting)
            let connection: RedisConnection
            // Only wakes this thread (it attaches no socket): the moves are compared below.
            _ = control.takeReconnectRequest()
            let (url, moves) = address.current
            do {
                connection = try RedisConnection(
                    url: url, timeout: connectTimeout, name: RedisConnection.clientName("publish", node: origin.node))
            } catch {
                noteOutage(error)
                if !control.sleep(for: backoff.nextDelay()) { return }
                continue
            }
            connection.setReadTimeout(ioTimeout)
            connection.enableKeepAlive()
            do {
                // Connected is when Redis answers, not when it took the connection: a frozen
                // Redis accepts connections and answers nothing.
                try healthCheck(connection)
                // A replica takes PUBLISH but only its own subscribers get it, and refuses XADD.
                try refuseReplica(connection)
            } catch {
                connection.close()
                noteOutage(error)
                if !control.sleep(for: backoff.nextDelay()) { return }
                continue
            }
            noteConnected()
            backoff.reset()
            do throws(PublishInterrupted) {
                // Before anything queued since the connection is back, which came later.
                try appendHeld(on: connection)
                let moved = try publishUntilStopped(on: connection, openedAt: moves)
                connection.close()
                guard moved else { return }
                logger.info("publishing to the new Redis address", metadata: ["url": "\(address.url)"])
            } catch {
                connection.close()
                noteOutage(error.cause, unsent: error.unsent)
                if !control.sleep(for: backoff.nextDelay()) { return }
            }
        }
    }

    /// Why publishing stopped, and the updates taken from the queue (or the hold) that it did not
    /// publish nor know to be in the log: the part in flight (some of it may have reached Redis,
    /// there is no telling which) and the rest of its batch. Those for the log are held for it
    /// (one may then be in the log twice, which its readers take once), the rest is dropped.
    private struct PublishInterrupted: Error {
        var cause: RedisError
        var unsent: [SharedUpdate] = []
    }

    /// Publishes whatever is queued as it comes; returns after the last batch once stopping
    /// (false), or when the address moved since the connection was opened at `moves` (true: what is
    /// queued waits for the connection to the new one).
    private func publishUntilStopped(on connection: RedisConnection, openedAt moves: UInt64) throws(PublishInterrupted) -> Bool {
        var roleChecked = ContinuousClock.now
        while true {
            let woken = pending.wait(timeout: .now() + .nanoseconds(Self.nanoseconds(healthCheckInterval))) == .success
            let stopping = control.isStopping
            if !stopping, address.moves != moves { return true }
            // A master demoted under the connection (a failover) takes PUBLISH for its own
            // subscribers alone, and with the log off no READONLY says so: asked again every
            // health-check interval, busy or not. What is queued stays for the outage to take.
            if !stopping, ContinuousClock.now - roleChecked >= healthCheckInterval {
                do {
                    try refuseReplica(connection)
                } catch {
                    throw PublishInterrupted(cause: error)
                }
                roleChecked = ContinuousClock.now
            }
            let batch = takeQueued()
            if batch.isEmpty {
                if stopping { return false }
                if !woken {
                    do {
                        try healthCheck(connection)
                    } catch {
                        throw PublishInterrupted(cause: error)
                    }
                }
                continue
            }
            var start = 0
            while start < batch.count {
                let end = min(start + Self.maxPipeline, batch.count)
                do {
                    try publish(batch[start..<end], on: connection)
                } catch {
                    // The rest of the batch never went out.
                    throw PublishInterrupted(cause: error.cause, unsent: error.unsent + batch[end...])
                }
                start = end
            }
        }
    }

    private func takeQueued() -> [SharedUpdate] {
        state.withLock { state in
            defer {
                state.queue = []
                state.queuedBytes = 0
                state.full = false
            }
            return state.queue
        }
    }

    /// Appends the batch's log entries, then publishes its copies. A copy is marked as logged only
    /// when its entry is in the log: a Redis that refuses the XADD (maxmemory reached, an ACL) but
    /// takes the PUBLISH gets an unmarked copy, which the other nodes take from pub/sub instead of
    /// skipping it for an entry that never comes.
    private func publish(_ batch: ArraySlice<SharedUpdate>, on connection: RedisConnection) throws(PublishInterrupted) {
        let updates = Array(batch)
        let signer = secrets.now.signer
        let entries = updates.map { update in
            writesLog ? SharedMessageCodec.logEntry(update, origin: origin, log: channels.log, signer: signer) : nil
        }
        let logged: [Bool]
        let logRefusal: String?
        do {
            (logged, logRefusal) = try appendToLog(entries, on: connection)
        } catch {
            // Some entries may be in the log; none of the copies went out.
            throw PublishInterrupted(cause: error, unsent: updates)
        }

        let publish = Array("PUBLISH".utf8)
        let commands = updates.indices.map { index -> [[UInt8]] in
            let message = logged[index] ? entries[index]?.last?.1 : nil
            let channel = Array(updates[index].channel(in: channels).utf8)
            return [publish, channel, message ?? SharedMessageCodec.encode(updates[index], origin: origin, signer: signer)]
        }
        // Failing, some of them may have reached Redis; what is in the log reaches the nodes that
        // read it, the rest is unsent.
        let replies: [RedisReply]
        do {
            replies = try connection.pipeline(commands)
        } catch {
            throw PublishInterrupted(cause: error, unsent: updates.indices.filter { !logged[$0] }.map { updates[$0] })
        }
        // Refused by the log, published unmarked: this node's log reader waits for none of them.
        let notLogged = updates.indices.filter { entries[$0] != nil && !logged[$0] }.map { updates[$0] }
        takeBack(notLogged)
        let publishRefusal = replies.lazy.compactMap { reply -> String? in
            if case .error(let message) = reply { return message } else { return nil }
        }.first
        let refused = zip(updates, replies).filter { update, reply in
            if case .error = reply { !update.isHeartbeat } else { false }
        }.count
        let heartbeats = updates.filter(\.isHeartbeat).count
        let refusalsToLog = state.withLock { state -> (publish: String?, log: String?) in
            state.snapshot.published += updates.count - heartbeats - refused
            state.snapshot.dropped += refused
            state.snapshot.notLogged += notLogged.count
            if let logRefusal { state.snapshot.lastError = "Redis refused XADD to the shared log: \(logRefusal)" }
            if let publishRefusal { state.snapshot.lastError = "Redis refused PUBLISH: \(publishRefusal)" }
            // Logged again after a spell of success.
            guard publishRefusal != nil || logRefusal != nil else {
                state.refusalLogged = false
                return (nil, nil)
            }
            defer { state.refusalLogged = true }
            return state.refusalLogged ? (nil, nil) : (publishRefusal, logRefusal)
        }
        if let refusal = refusalsToLog.publish {
            logger.error("Redis refuses PUBLISH; updates for other nodes are dropped", metadata: ["error": "\(refusal)"])
        }
        if let refusal = refusalsToLog.log {
            logger.error(
                "Redis refuses XADD to the shared log; updates go over pub/sub alone, so a node that is down misses them",
                metadata: ["error": "\(refusal)", "log": "\(channels.log)"])
        }
    }

    /// Appends `entries` (nil: nothing to append for that update) to the shared log in one pipeline.
    /// Returns which were appended, and the first refusal.
    private func appendToLog(
        _ entries: [[(String, [UInt8])]?], on connection: RedisConnection
    ) throws(RedisError) -> (logged: [Bool], refusal: String?) {
        var logged = [Bool](repeating: false, count: entries.count)
        guard let logLength else { return (logged, nil) }
        let appending = entries.indices.filter { entries[$0] != nil }
        guard !appending.isEmpty else { return (logged, nil) }
        let trim = ["XADD", channels.log, "MAXLEN", "~", String(logLength), "*"].map { Array($0.utf8) }
        let replies = try connection.pipeline(appending.map { index in
            trim + (entries[index] ?? []).flatMap { [Array($0.0.utf8), $0.1] }
        })
        var refusal: String?
        for (index, reply) in zip(appending, replies) {
            if case .error(let message) = reply {
                // Demoted since it connected (a failover): what it refused is held, not dropped,
                // until the connection to the master.
                if message.hasPrefix("READONLY") { throw .readOnlyReplica(endpoint: connection.endpoint) }
                refusal = refusal ?? message
            } else {
                logged[index] = true
            }
        }
        return (logged, refusal)
    }

    /// Tells this node's log reader that these queued updates will not (or may not) be in the log,
    /// so it waits for none of them.
    private func takeBack<Updates: Sequence<SharedUpdate>>(_ updates: Updates) {
        guard writesLog, let ownEntries else { return }
        for update in updates { ownEntries.notAppended(update) }
    }

    /// PING after a quiet spell, so a lost connection is noticed (and shown) before the next update.
    private func healthCheck(_ connection: RedisConnection) throws(RedisError) {
        if case .error(let message) = try connection.command(["PING"]) {
            throw .commandFailed(command: "PING", message: message)
        }
    }

    /// Throws `readOnlyReplica` when the instance connected to says (`ROLE`) it is a replica; one that
    /// refuses `ROLE` (an ACL user without it) is taken for the master, as the sentinel watcher does.
    private func refuseReplica(_ connection: RedisConnection) throws(RedisError) {
        if case .array(let parts) = try connection.command(["ROLE"]), parts.first?.text == "slave" {
            throw .readOnlyReplica(endpoint: connection.endpoint)
        }
    }

    private func setState(_ newState: RedisSourceState) {
        state.withLock { $0.snapshot.state = newState }
    }

    /// Redis is unreachable: hold what is queued for the log (and the `unsent` updates taken from
    /// the queue), drop the rest, hold or drop offers until reconnected, log once per outage.
    private func noteOutage(_ error: RedisError, unsent: [SharedUpdate] = []) {
        let (first, dropped) = state.withLock { state -> (Bool, Int) in
            let first = !state.inOutage
            if first {
                state.inOutage = true
                state.snapshot.outages += 1
                state.droppedBeforeOutage = state.snapshot.dropped
            }
            // What waits for the log is held for it, in the order it was offered; ticks go (stale
            // prices must not come later).
            let waiting = unsent + state.queue
            state.queue = []
            state.queuedBytes = 0
            var notHeld = 0
            for update in waiting where !hold(update, in: &state, counted: true) {
                // A heartbeat is never counted: the next one says the same, later.
                if !update.isHeartbeat { notHeld += 1 }
                takeBack([update])
            }
            state.snapshot.dropped += notHeld
            state.accepting = false
            state.snapshot.state = .backingOff
            state.snapshot.lastError = error.description
            return (first, state.snapshot.dropped)
        }
        if first {
            logger.warning(
                "cannot publish to Redis: ticks ingested here are not shared with other nodes until it is back, the rest is held for the shared log; local clients are not affected",
                metadata: ["error": "\(error)", "dropped_total": .stringConvertible(dropped)])
        }
    }

    private func noteConnected() {
        let outage = state.withLock { state -> (dropped: Int, held: Int)? in
            state.accepting = true
            state.snapshot.state = .connected
            guard state.inOutage else { return nil }
            state.inOutage = false
            return (state.snapshot.dropped - state.droppedBeforeOutage, state.held.count)
        }
        if let outage {
            logger.info(
                "publishing to Redis again: sharing with other nodes resumed",
                metadata: ["dropped_during_outage": .stringConvertible(outage.dropped), "held_for_the_log": .stringConvertible(outage.held)])
        }
    }

    /// Holds `update` for the shared log while Redis is down: true when it has an entry there and
    /// the hold has room (bounded as the queue is). `counted`: it was counted for this node's log
    /// reader when it was queued.
    private func hold(_ update: SharedUpdate, in state: inout State, counted: Bool = false) -> Bool {
        guard writesLog, SharedMessageCodec.LogKind(update) != nil else { return false }
        let bytes = update.approximateBytes
        guard state.held.count < capacity, state.held.isEmpty || state.heldBytes + bytes <= capacityBytes else { return false }
        state.held.append(update)
        state.heldBytes += bytes
        if !counted { ownEntries?.appending(update) }
        return true
    }

    /// Appends what was held during an outage to the shared log, without publishing it: nodes
    /// reading the log take it in the log's order (news they lack, bars newer than theirs, and a
    /// list or rule as the log's latest write of it); a pub/sub copy now would reach nodes that do
    /// not read the log long after newer updates.
    private func appendHeld(on connection: RedisConnection) throws(PublishInterrupted) {
        let held = state.withLock { state in
            defer {
                state.held = []
                state.heldBytes = 0
            }
            return state.held
        }
        guard !held.isEmpty else { return }
        let signer = secrets.now.signer
        var start = 0
        var appendedInAll = 0
        while start < held.count {
            let end = min(start + Self.maxPipeline, held.count)
            let slice = held[start..<end]
            let entries = slice.map { SharedMessageCodec.logEntry($0, origin: origin, log: channels.log, signer: signer) }
            let appended: [Bool]
            let refusal: String?
            do {
                (appended, refusal) = try appendToLog(entries, on: connection)
            } catch {
                throw PublishInterrupted(cause: error, unsent: Array(held[start...]))
            }
            takeBack(zip(slice, appended).filter { !$0.1 }.map(\.0))
            let notAppended = appended.filter { !$0 }.count
            appendedInAll += slice.count - notAppended
            state.withLock { state in
                state.snapshot.appendedLate += slice.count - notAppended
                state.snapshot.dropped += notAppended
                if let refusal { state.snapshot.lastError = "Redis refused XADD to the shared log: \(refusal)" }
            }
            if let refusal {
                logger.error(
                    "Redis refuses XADD to the shared log; updates held during the outage are dropped",
                    metadata: ["error": "\(refusal)", "dropped": .stringConvertible(notAppended)])
            }
            start = end
        }
        logger.info(
            "appended the updates held during the outage to the shared log",
            metadata: ["appended": .stringConvertible(appendedInAll), "held": .stringConvertible(held.count)])
    }

    private static func nanoseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
    }
}
