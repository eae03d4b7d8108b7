import Journal
import Logging

/// Hears every event the store applies, in seq order, on the store's executor.
///
/// Called synchronously while the store is busy: keep it to lookups and queueing.
public protocol EventObserver: Sendable {
    /// `events` were just applied; `projection` is the state after the last of them.
    func applied(_ events: [RecordedEvent], projection: Projection)
}

/// The broker's source of truth: decides commands against the projection, appends the resulting
/// events to the journal and applies them, in seq order, only once they are committed.
///
/// Many commands may be in flight at once, which is what lets the journal batch their commits.
/// Their commits can resume in any order, so applied events pass through a reorder buffer: the
/// projection always advances seq by seq, exactly as a replay of the journal would.
public actor EventStore {
    /// The journal this store appends to.
    public nonisolated let journal: Journal
    /// The state after every committed event up to `projection.lastSeq`.
    public private(set) var projection: Projection
    private var limits: Limits
    private var snapshotInterval: UInt64
    private let logger: Logger
    private var committedButNotApplied: [UInt64: RecordedEvent] = [:]
    private var waitingForSeq: [UInt64: [CheckedContinuation<Void, Never>]] = [:]
    /// What runs right after the event of its seq is applied (see `execute(_:whenApplied:)`).
    private var whenApplied: [UInt64: @Sendable (Projection) -> Void] = [:]
    /// The first seqs of the commands in `whenApplied`: the observer hears of them apart from the
    /// events before them.
    private var observedApartFrom: Set<UInt64> = []
    private var observer: (any EventObserver)?
    private var lastSnapshotSeq: UInt64
    private var snapshotInProgress = false
    /// Conflict keys of the commands being decided and committed (see `Command.conflictKeys`).
    private var busyKeys: Set<String> = []
    private var waitingForKeys: [CheckedContinuation<Void, Never>] = []

    /// Opens a store over `journal`: loads the newest valid snapshot and replays the tail.
    public init(
        journal: Journal, limits: Limits = Limits(), snapshotInterval: UInt64 = 100_000,
        logger: Logger = Logger(label: "brokerd.store")
    ) throws {
        for seq in journal.removedSnapshotSeqs {
            logger.warning("removed a snapshot past the journal's last row", metadata: ["seq": .stringConvertible(seq), "last_seq": .stringConvertible(journal.lastSeq)])
        }
        let recovered = try ProjectionLoader(logger: logger).load(from: journal.reader())
        self.journal = journal
        self.projection = recovered.projection
        self.limits = limits
        self.snapshotInterval = snapshotInterval
        self.logger = logger
        self.lastSnapshotSeq = recovered.snapshotSeq ?? 0
        self.recovery = recovered.summary
    }

    /// How the projection was rebuilt at open.
    public nonisolated let recovery: RecoverySummary

    /// Decides the commands from now on with `limits` (a reload of the configuration); what was
    /// journaled stays as it was decided, and a session holding more subscriptions than a lower
    /// limit keeps them (it cannot add one until it holds fewer).
    public func setLimits(_ limits: Limits) {
        self.limits = limits
    }

    /// Writes a snapshot every `interval` events from now on (a reload of the configuration): the
    /// next one when `interval` events have been applied since the last.
    public func setSnapshotInterval(_ interval: UInt64) {
        snapshotInterval = max(1, interval)
        snapshotIfDue()
    }

    /// Decides `command`; when it yields events, appends them and returns them once applied.
    /// - Throws: `BrokerError` when the command is refused (nothing is written), or a
    ///   `JournalError` when the append fails (nothing is written, the projection is unchanged).
    ///
    /// Commands run concurrently so their commits batch, but one that shares a conflict key with a
    /// command in flight waits for it, and is then decided against the state it left: without
    /// that, two resumes of one session, or two users taking one rule id, would both pass checks
    /// made against a projection that did not yet hold the other.
    @discardableResult
    public func execute(_ command: Command) async throws -> [RecordedEvent] {
        try await execute(command, whenApplied: nil)
    }

    /// `execute(_:)`, and `body` runs on the store right after the command's events are applied
    /// (at once when it yields none), with the state they left: after the observer heard of them
    /// and of every event before them, before it hears of any later one. The observer hears of the
    /// command's events apart from those before and after them, each with the state it left. So
    /// what `body` queues for a client (a reply, a snapshot) reaches it behind every push of earlier
    /// events and ahead of every push of later ones, and those pushes go to whom the state said at
    /// their own seq. Not run when the command is refused or the append fails.
    @discardableResult
    public func execute(
        _ command: Command, whenApplied body: (@Sendable (Projection) -> Void)?
    ) async throws -> [RecordedEvent] {
        try await execute(command, body, evenIfNone: true)
    }

    /// `execute(_:)` of what `revise` makes of `command`, asked on the store once the command's
    /// conflict keys are held: what `revise` reads cannot change (through a command sharing a key)
    /// between its answer and the decision. Its answer must share the command's keys or need none.
    @discardableResult
    public func execute(_ command: Command, revisedOnStore revise: @escaping @Sendable (Command) -> Command) async throws -> [RecordedEvent] {
        try await execute(command, nil, evenIfNone: true, revise: revise)
    }

    /// `execute(_:whenApplied:)` for what matters only when the command records something (sharing
    /// it with other nodes): `body` runs on the store right after its events are applied, so such
    /// bodies run in commit order, and not at all when it yields none.
    @discardableResult
    public func execute(
        recording command: Command, whenRecorded body: @escaping @Sendable (Projection) -> Void
    ) async throws -> [RecordedEvent] {
        try await execute(command, body, evenIfNone: false)
    }

    private func execute(
        _ command: Command, _ body: (@Sendable (Projection) -> Void)?, evenIfNone: Bool,
        revise: (@Sendable (Command) -> Command)? = nil
    ) async throws -> [RecordedEvent] {
        var keys = command.conflictKeys
        // While no rule exists (and none is being set) ticks fire nothing, and commit together.
        if command.decidesAlertFirings, !projection.alerts.isEmpty || busyKeys.contains(Command.alertsKey) {
            keys.append(Command.alertsKey)
        }
        guard !keys.isEmpty else {
            return try await append(
                try Decider.decide(revise?(command) ?? command, state: projection, limits: limits), whenApplied: body,
                evenIfNone: evenIfNone)
        }
        while keys.contains(where: busyKeys.contains) {
            await withCheckedContinuation { waitingForKeys.append($0) }
        }
        busyKeys.formUnion(keys)
        defer {
            busyKeys.subtract(keys)
            // Few commands ever wait here; each that does checks its keys again.
            let waiting = waitingForKeys
            waitingForKeys = []
            for waiter in waiting { waiter.resume() }
        }
        return try await append(
            try Decider.decide(revise?(command) ?? command, state: projection, limits: limits), whenApplied: body,
            evenIfNone: evenIfNone)
    }

    /// Appends already-decided events (used by components that decide for themselves, such as
    /// start-up marking clients of a dead process as gone).
    /// `stampedAt` journals them with that time instead of the commit time (see `Journal`): for
    /// what happened before now, such as the connections a crash ended.
    @discardableResult
    public func append(_ events: [Event], stampedAt: Int64? = nil) async throws -> [RecordedEvent] {
        try await append(events, stampedAt: stampedAt, whenApplied: nil)
    }

    private func append(
        _ events: [Event], stampedAt: Int64? = nil, whenApplied body: (@Sendable (Projection) -> Void)?, evenIfNone: Bool = true
    ) async throws -> [RecordedEvent] {
        guard !events.isEmpty else {
            if evenIfNone { body?(projection) }
            return []
        }
        let records = events.map { NewRecord(kind: $0.kind.rawValue, key: $0.key, payload: EventCodec.encode($0)) }
        let positions = if let stampedAt {
            try await journal.append(contentsOf: records, stampedAt: stampedAt)
        } else {
            try await journal.append(contentsOf: records)
        }
        let recorded = zip(positions, events).map { RecordedEvent(seq: $0.seq, timestamp: $0.timestamp, event: $1) }
        if let body, let first = recorded.first, let last = recorded.last {
            whenApplied[last.seq] = body
            observedApartFrom.insert(first.seq)
        }
        for event in recorded {
            committedButNotApplied[event.seq] = event
        }
        applyCommittedInOrder()
        if let last = recorded.last, projection.lastSeq < last.seq {
            await withCheckedContinuation { waitingForSeq[last.seq, default: []].append($0) }
        }
        snapshotIfDue()
        return recorded
    }

    /// Writes a snapshot of the projection now (also done every `snapshotInterval` events).
    public func snapshot() async throws {
        let seq = projection.lastSeq
        guard seq > 0 else { return }
        try await journal.writeSnapshot(seq: seq, format: Int64(Projection.formatVersion), data: projection.serialized())
        lastSnapshotSeq = max(lastSnapshotSeq, seq)
    }

    /// Runs `body` against the projection on the store's executor: no event is applied (and no
    /// observer called) while it runs, so what it sees and does is atomic with the fan-out.
    public func read<T: Sendable>(_ body: @Sendable (Projection) throws -> T) rethrows -> T {
        try body(projection)
    }

    /// Sets who hears of applied events (the fan-out); nil for nobody.
    public func setObserver(_ observer: (any EventObserver)?) {
        self.observer = observer
    }

    private func applyCommittedInOrder() {
        var applied: [RecordedEvent] = []
        while let next = committedButNotApplied.removeValue(forKey: projection.lastSeq + 1) {
            if observedApartFrom.remove(next.seq) != nil {
                // The events before it are pushed with the state before it: a tick just ahead of
                // a subscribe does not reach the new subscriber ahead of its `subscribed`.
                observe(applied)
                applied = []
            }
            projection.apply(next)
            applied.append(next)
            if let body = whenApplied.removeValue(forKey: next.seq) {
                // Between the pushes of the events up to its command's and those of the events after.
                observe(applied)
                applied = []
                body(projection)
            }
        }
        observe(applied)
    }

    /// Tells the observer of `applied` (the events just applied, up to the projection's last) and
    /// wakes their commands' callers.
    private func observe(_ applied: [RecordedEvent]) {
        guard !applied.isEmpty else { return }
        // Observers see each event once, in seq order, with the state right after it — before
        // the commands' callers are answered, so a reply never overtakes the push it caused.
        observer?.applied(applied, projection: projection)
        for event in applied {
            if let waiters = waitingForSeq.removeValue(forKey: event.seq) {
                for waiter in waiters { waiter.resume() }
            }
        }
    }

    private func snapshotIfDue() {
        guard !snapshotInProgress, projection.lastSeq - lastSnapshotSeq >= snapshotInterval else { return }
        snapshotInProgress = true
        let seq = projection.lastSeq
        let data = projection.serialized()
        Task {
            do {
                try await journal.writeSnapshot(seq: seq, format: Int64(Projection.formatVersion), data: data)
                snapshotWritten(seq: seq, error: nil)
            } catch {
                snapshotWritten(seq: seq, error: error)
            }
        }
    }

    private func snapshotWritten(seq: UInt64, error: (any Error)?) {
        snapshotInProgress = false
        if let error {
            logger.warning("snapshot at seq \(seq) failed; will retry at the next interval", metadata: ["error": "\(error)"])
            lastSnapshotSeq = seq
        } else {
            lastSnapshotSeq = seq
            logger.debug("snapshot written", metadata: ["seq": .stringConvertible(seq)])
        }
    }
}
