import Foundation
import Metrics
import Synchronization

/// The journal's single writer: a dedicated thread that takes every append queued while it was
/// busy, writes them in one transaction and acknowledges each only after the commit returned.
///
/// Batching needs nothing from callers: while one commit runs, new appends queue up and form the
/// next batch, so batches grow with load and a lone append is committed at once. A batch holds at
/// most `maxBatchSize` events, which bounds both its size and the latency it adds.
final class GroupCommitWriter: Sendable {
    /// The last committed row, readable from any thread.
    struct Head: Sendable {
        var seq: UInt64
        var timestamp: Int64
    }

    /// Counters of the work done so far, for metrics and benchmarks.
    struct Statistics: Sendable {
        var commits: UInt64 = 0
        var events: UInt64 = 0
        var failedCommits: UInt64 = 0
        /// The latest commit's failure; nil once a commit has succeeded since.
        var lastCommitFailure: CommitFailure?
    }

    /// What a batch appended: consecutive seqs from `firstSeq`, all with one timestamp.
    struct Appended: Sendable {
        var firstSeq: UInt64
        var count: Int
        var timestamp: Int64
    }

    /// Work that must run on the writer connection, between batches (snapshots, pruning).
    typealias Job = @Sendable (SQLiteConnection) throws -> Void

    private enum Request {
        case append([NewRecord], UnsafeContinuation<Appended, any Error>)
        /// Rows stamped with an earlier time than their commit's, committed on their own.
        case appendStamped([NewRecord], Int64, UnsafeContinuation<Appended, any Error>)
        case job(Job, UnsafeContinuation<Void, any Error>)
        /// A job nobody waits for (the checkpointer's).
        case detachedJob(Job)

        var eventCount: Int {
            switch self {
            case .append(let records, _), .appendStamped(let records, _, _): records.count
            case .job, .detachedJob: 0
            }
        }
    }

    private struct Queue {
        var pending: [Request] = []
        var writerIdle = true
        var stopping = false
        var stopped: JournalError?
    }

    private let queue = Mutex(Queue())
    private let committedHead: Mutex<Head>
    private let counters = Mutex(Statistics())
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let maxBatchSize: Int

    /// Takes ownership of `state` and its connection: from here on only the writer thread touches them.
    init(state: sending WriterState, maxBatchSize: Int) {
        self.maxBatchSize = max(1, maxBatchSize)
        self.committedHead = Mutex(Head(seq: state.lastSeq, timestamp: state.lastTimestamp))
        // The state (with its connection) moves into the thread and is never touched elsewhere,
        // which is what makes capturing it in the @Sendable thread body safe.
        nonisolated(unsafe) let owner = StateOwner(state)
        let thread = Thread { [self] in
            run(owner)
        }
        thread.name = "journal-writer"
        thread.start()
    }

    var head: Head { committedHead.withLock { $0 } }

    /// Why the writer stopped taking appends for good (a failed rollback: the file's state is
    /// unknown until it is opened again), or nil while it takes them.
    var stoppedBy: JournalError? { queue.withLock { $0.stopped } }

    var statistics: Statistics { counters.withLock { $0 } }

    func append(_ records: [NewRecord]) async throws -> Appended {
        try await withUnsafeThrowingContinuation { continuation in
            enqueue(.append(records, continuation))
        }
    }

    /// Appends rows that carry `timestamp` (or the last row's time, if later) instead of their
    /// commit time, in a transaction of their own.
    func append(_ records: [NewRecord], stampedAt timestamp: Int64) async throws -> Appended {
        try await withUnsafeThrowingContinuation { continuation in
            enqueue(.appendStamped(records, timestamp, continuation))
        }
    }

    func perform(_ job: @escaping Job) async throws {
        try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
            enqueue(.job(job, continuation))
        }
    }

    /// Runs `job` between two batches without waiting for it; dropped when the writer is stopping.
    func schedule(_ job: @escaping Job) {
        enqueue(.detachedJob(job))
    }

    /// Commits what is queued, stops the thread and closes the connection; later appends throw `closed`.
    func close() {
        let wake = queue.withLock { q -> Bool in
            guard !q.stopping else { return false }
            q.stopping = true
            if q.writerIdle {
                q.writerIdle = false
                return true
            }
            return false
        }
        if wake { wakeup.signal() }
        finished.wait()
        finished.signal()  // later close() calls return at once
    }

    private func enqueue(_ request: Request) {
        let outcome = queue.withLock { q -> (wake: Bool, refused: JournalError?) in
            if let stopped = q.stopped { return (false, stopped) }
            if q.stopping { return (false, .closed) }
            q.pending.append(request)
            if q.writerIdle {
                q.writerIdle = false
                return (true, nil)
            }
            return (false, nil)
        }
        if let refused = outcome.refused {
            Self.fail(request, with: refused)
        } else if outcome.wake {
            wakeup.signal()
        }
    }

    private func run(_ owner: StateOwner) {
        if let state = owner.state {
            serve(state)
        }
        // Release the statements and the connection before close() returns, so the file is
        // closed (and its WAL checkpointed) by then.
        owner.state = nil
        finished.signal()
    }

    private func serve(_ state: WriterState) {
        var previousRequests = 0
        while true {
            wakeup.wait()
            while true {
                lingerForStragglers(expecting: previousRequests)
                let (batch, stop) = takeBatch()
                previousRequests = batch.count
                if batch.isEmpty {
                    if stop { return }
                    break
                }
                process(batch, state: state)
            }
        }
    }

    /// When far fewer appends are queued than the last batch held, the rest of those appenders are
    /// most likely being resumed right now and about to append again: waiting a few microseconds
    /// for them makes one commit instead of two. Bounded by `maxLinger`, so a lone appender never
    /// waits longer than that.
    private func lingerForStragglers(expecting previous: Int) {
        guard previous > 1 else { return }
        let deadline = ContinuousClock.now + Self.maxLinger
        while queue.withLock({ $0.pending.count < previous / 2 && !$0.stopping }), ContinuousClock.now < deadline {
            sched_yield()
        }
    }

    static let maxLinger = Duration.microseconds(50)

    /// Whole requests, oldest first, up to maxBatchSize events (always at least one request).
    private func takeBatch() -> ([Request], Bool) {
        queue.withLock { q -> ([Request], Bool) in
            guard !q.pending.isEmpty else {
                q.writerIdle = !q.stopping
                return ([], q.stopping)
            }
            var events = 0
            var taken = 0
            for request in q.pending {
                events += request.eventCount
                taken += 1
                if events >= maxBatchSize { break }
            }
            if taken == q.pending.count {
                defer { q.pending = [] }
                return (q.pending, false)
            }
            let batch = Array(q.pending.prefix(taken))
            q.pending.removeFirst(taken)
            return (batch, false)
        }
    }

    private func process(_ batch: [Request], state: WriterState) {
        var appends: [([NewRecord], UnsafeContinuation<Appended, any Error>)] = []
        appends.reserveCapacity(batch.count)
        for request in batch {
            switch request {
            case .append(let records, let continuation):
                appends.append((records, continuation))
            case .appendStamped(let records, let timestamp, let continuation):
                flush(&appends, state: state)
                appends.append((records, continuation))
                flush(&appends, state: state, stampedAt: timestamp)
            case .job(let job, let continuation):
                // Jobs run in order with the appends around them.
                flush(&appends, state: state)
                do {
                    try job(state.connection)
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            case .detachedJob(let job):
                flush(&appends, state: state)
                // The job reports its own failures.
                try? job(state.connection)
            }
        }
        flush(&appends, state: state)
    }

    private func flush(
        _ appends: inout [([NewRecord], UnsafeContinuation<Appended, any Error>)],
        state: WriterState, stampedAt: Int64? = nil
    ) {
        guard !appends.isEmpty else { return }
        defer { appends.removeAll(keepingCapacity: true) }
        do {
            let started = ContinuousClock.now
            let results = try state.commit(appends.map(\.0), stampedAt: stampedAt)
            Self.commitDuration.record(duration: ContinuousClock.now - started)
            committedHead.withLock { $0 = Head(seq: state.lastSeq, timestamp: state.lastTimestamp) }
            let events = results.reduce(0) { $0 + UInt64($1.count) }
            Self.batchSize.record(events)
            counters.withLock {
                $0.commits += 1
                $0.events += events
                $0.lastCommitFailure = nil
            }
            for (index, appended) in results.enumerated() {
                appends[index].1.resume(returning: appended)
            }
        } catch {
            let failure = CommitFailure(timestamp: WallClock.microsecondsNow(), reason: "\(error)")
            counters.withLock {
                $0.failedCommits += 1
                $0.lastCommitFailure = failure
            }
            if case .writerStopped = error {
                queue.withLock { $0.stopped = error }
            }
            for (_, continuation) in appends {
                continuation.resume(throwing: error)
            }
        }
    }

    /// How long one group commit (insert, hash, COMMIT) takes, for `/metrics`.
    private static let commitDuration = Metrics.Timer(label: "brokerd_journal_commit_seconds")
    /// Events per group commit, for `/metrics`.
    private static let batchSize = Recorder(label: "brokerd_journal_batch_events")

    /// Holds the writer state so the thread can drop it when it stops.
    private final class StateOwner {
        var state: WriterState?
        init(_ state: WriterState) { self.state = state }
    }

    private static func fail(_ request: Request, with error: JournalError) {
        switch request {
        case .append(_, let continuation), .appendStamped(_, _, let continuation): continuation.resume(throwing: error)
        case .job(_, let continuation): continuation.resume(throwing: error)
        case .detachedJob: break
        }
    }
}
