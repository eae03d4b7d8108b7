import Broker
import Dispatch
import Logging
import Synchronization

/// Hands batches from a reader thread to the broker's async callbacks and waits for them to finish.
///
/// Waiting is the backpressure: the reader does not read the next message until the broker has
/// taken the previous batch. The wait blocks the reader's own thread, never a pool thread.
///
/// A batch can fail two ways. The broker refuses it as invalid (a `BrokerError`): trying again
/// cannot help, so it is logged and skipped. Or the broker could not journal it (a journal error:
/// disk full, I/O, the file locked by an offline compaction): a stream reader then delivers the
/// same batch again with backoff, because reading on would journal a later stream position
/// over entries that never made it into the journal.
struct TickBatchDelivery: Sendable {
    /// The broker's callback for ticks.
    let deliver: @Sendable (TickBatch) async throws -> Void
    /// The broker's callback for news and alert rules shared by other nodes.
    let deliverShared: @Sendable (SharedUpdate) async throws -> Void
    /// The broker's callback for an entry of the shared log: its update (nil when there is none to
    /// apply: the entry was malformed, or refused), whether this node wrote it, and its position.
    let deliverLogged: @Sendable (SharedUpdate?, _ own: Bool, _ position: String) async throws -> Void
    /// Where counters go.
    let status: RedisSourceStatus
    /// Largest batch handed over at once (the decider's `maxTicksPerBatch`).
    let maxTicksPerBatch: Int
    /// Pauses between attempts to deliver a stream batch the broker could not journal.
    let retryBackoff: ReconnectBackoff
    let logger: Logger

    /// Delivers pub/sub ticks in batches no larger than the limit. They carry no stream position,
    /// so splitting them costs nothing; a batch the broker refuses or could not journal is skipped.
    func hand(_ ticks: [FedTick]) {
        var start = 0
        while start < ticks.count {
            let end = min(start + maxTicksPerBatch, ticks.count)
            _ = handOne(TickBatch(ticks: Array(ticks[start..<end])), retrying: nil)
            start = end
        }
    }

    /// Delivers stream ticks, at most `maxTicksPerBatch` of them, as one batch with the id of the
    /// last entry they come from. Never split: a part journaled without the id would be read and
    /// journaled again after a restart, so the reader refuses a larger entry whole instead.
    ///
    /// A batch the broker could not journal is delivered again (with backoff, until it is journaled
    /// or the reader is stopped); one it refuses as invalid is skipped. Returns false when the
    /// reader was stopped first: it must then not move past these ticks.
    func hand(_ ticks: [FedTick], streamID: String, retrying control: ReaderThreadControl) -> Bool {
        handOne(TickBatch(ticks: ticks, streamID: streamID), retrying: control)
    }

    /// Delivers a stream position with no ticks, so the journal holds it before any entry after it
    /// was read; false when the reader was stopped while retrying it.
    func hand(position streamID: String, retrying control: ReaderThreadControl) -> Bool {
        handOne(TickBatch(ticks: [], streamID: streamID), retrying: control)
    }

    /// Delivers one update from another node (news, an alert rule, a signal list, k-line bars).
    func hand(_ update: SharedUpdate) {
        let deliverShared = self.deliverShared
        if let error = waitFor({ try await deliverShared(update) }) {
            status.update { $0.deliveryFailures += 1 }
            logRefusal(what: "\(update.kind) from another node", reason: "\(error)")
        } else if update.isHeartbeat {
            // Not an update taken: `shared` counts those.
        } else {
            status.update { $0.shared += 1 }
        }
    }

    /// Delivers one entry of the shared log with its position, so the journal holds how far the
    /// log was read together with what the entry changed. An update the broker refuses as invalid
    /// is logged and skipped, and its position delivered alone; what could not be journaled is
    /// delivered again with backoff. Returns false when the reader was stopped first.
    func hand(logged update: SharedUpdate?, own: Bool, position: String, retrying control: ReaderThreadControl) -> Bool {
        let deliverLogged = self.deliverLogged
        var update = update
        while true {
            let current = update
            switch untilJournaled(retrying: control, what: "an entry of the shared log", { try await deliverLogged(current, own, position) }) {
            case .taken:
                status.update {
                    if current != nil { $0.shared += 1 }
                    $0.lastLogID = position
                }
                return true
            case .stopped:
                return false
            case .refused(let error):
                logRefusal(what: current.map { "\($0.kind) from the shared log" } ?? "a shared log position", reason: "\(error)")
                // Read past it: the same entry would be refused again.
                guard current != nil else { return true }
                update = nil
            }
        }
    }

    /// Delivers one batch: true once it was taken or skipped, false when the reader was stopped
    /// while retrying it.
    private func handOne(_ batch: TickBatch, retrying control: ReaderThreadControl?) -> Bool {
        let deliver = self.deliver
        switch untilJournaled(retrying: control, what: "a batch of \(batch.ticks.count) ticks", { try await deliver(batch) }) {
        case .taken:
            status.update {
                $0.ticks += batch.ticks.count
                if let id = batch.streamID { $0.lastStreamID = id }
            }
            return true
        case .refused(let error):
            status.update { if let id = batch.streamID { $0.lastStreamID = id } }
            logRefusal(what: "a batch of \(batch.ticks.count) ticks", reason: "\(error)")
            return true
        case .stopped:
            return false
        }
    }

    private enum Delivered {
        case taken
        /// Refused as invalid, or (not retrying) not journaled: skipped.
        case refused(any Error)
        /// The reader was stopped while retrying.
        case stopped
    }

    /// Calls `deliver` until the broker takes it. A refusal as invalid (a `BrokerError`) ends it
    /// at once; any other error (the journal could not take it) is retried with backoff while
    /// `control` is given and not stopping, else it ends it too.
    private func untilJournaled(
        retrying control: ReaderThreadControl?, what: String, _ deliver: @escaping @Sendable () async throws -> Void
    ) -> Delivered {
        var backoff = retryBackoff
        var attempts = 0
        while true {
            attempts += 1
            guard let error = waitFor(deliver) else {
                if attempts > 1 {
                    logger.info("Redis stream delivery journaled after retrying", metadata: ["what": "\(what)", "attempts": .stringConvertible(attempts)])
                }
                return .taken
            }
            status.update { $0.deliveryFailures += 1 }
            guard let control, !(error is BrokerError) else { return .refused(error) }
            let delay = backoff.nextDelay()
            if attempts == 1 {
                logger.warning(
                    "broker could not journal what was read from a Redis stream; delivering it again with backoff, not reading past it",
                    metadata: ["what": "\(what)", "error": "\(error)"])
            } else {
                logger.debug("Redis stream delivery still not journaled", metadata: ["attempt": .stringConvertible(attempts), "error": "\(error)", "retryIn": "\(delay)"])
            }
            if !control.sleep(for: delay) { return .stopped }
        }
    }

    /// Runs `body` as a task and blocks this (reader) thread until it is done; the error if it threw.
    private func waitFor(_ body: @escaping @Sendable () async throws -> Void) -> (any Error)? {
        let done = DispatchSemaphore(value: 0)
        let failure = FailureSlot()
        Task {
            do { try await body() } catch { failure.set(error) }
            done.signal()
        }
        done.wait()
        return failure.value
    }

    private func logRefusal(what: String, reason: String) {
        let (log, suppressed) = status.shouldLog(.deliveryFailure)
        if log {
            logger.warning(
                "broker refused \(what) from Redis; skipped",
                metadata: ["error": "\(reason)", "suppressed": .stringConvertible(suppressed)])
        }
    }

    /// Reports a message refused for its signature (`SharedMessageSigner`), with a throttled log line.
    func reportUnsigned(_ problem: String) {
        countRefusal(\.unsigned, .unsigned, "refused a message on the shared channels: not signed with redis_secret", reason: problem)
    }

    /// Counts a refused message in `counter` and logs `message` with its reason, at most once per
    /// interval for `kind`.
    private func countRefusal(
        _ counter: WritableKeyPath<RedisSourceSnapshot, Int> & Sendable, _ kind: RedisSourceStatus.Throttled, _ message: Logger.Message,
        reason: String
    ) {
        status.update { $0[keyPath: counter] += 1 }
        let (log, suppressed) = status.shouldLog(kind)
        if log { logger.warning(message, metadata: ["reason": "\(reason)", "suppressed": .stringConvertible(suppressed)]) }
    }

    /// Whether a message signed with `stamp` (nil: by a build before stamps) by `origin`, read at
    /// `time`, is new (`ReplayGuard`), reporting it when not. One signed without a stamp is taken
    /// only while signatures are not required (`requiringStamps` false): it may be any old copy.
    func admits(
        _ stamp: SharedMessageSigner.Stamp?, from origin: NodeOrigin?, at time: Int64, checkedBy replays: ReplayGuard,
        requiringStamps: Bool, in place: String
    ) -> Bool {
        guard let stamp else {
            if requiringStamps { reportUnsigned("\(place): signed without a time and number (by a build before replay protection)") }
            return !requiringStamps
        }
        guard let refusal = replays.admit(stamp, from: origin?.instance ?? "", at: time) else { return true }
        countRefusal(\.replayed, .replayed, "refused a signed message on the shared channels: a copy published again", reason: "\(place): \(refusal)")
        return false
    }

    /// Reports payloads that were dropped, with a throttled log line.
    func reportMalformed(_ problems: [String]) {
        guard !problems.isEmpty else { return }
        status.update { $0.malformed += problems.count }
        logger.debug("dropped malformed Redis payload", metadata: ["reason": "\(problems[0])"])
        let (log, suppressed) = status.shouldLog(.malformed)
        if log {
            logger.warning(
                "dropped malformed Redis payload",
                metadata: ["reason": "\(problems[0])", "suppressed": .stringConvertible(suppressed)])
        }
    }
}

extension SharedUpdate {
    /// What the update is, for log lines.
    var kind: String {
        switch self {
        case .ticks: "ticks"
        case .news: "a news item"
        case .alertRuleSet: "an alert rule"
        case .alertRuleRemoved: "an alert rule removal"
        case .signalsReplaced: "a signal list"
        case .bars: "k-line bars"
        case .userRemoved: "a user's removal"
        case .userRemovalAnswered: "an answer to a user's removal"
        case .sessionRemoved: "a session's removal"
        case .sessionRemovalAnswered: "an answer to a session's removal"
        case .sessionLookedUp: "a session's lookup"
        case .sessionLookupAnswered: "an answer to a session's lookup"
        case .nodeHeartbeat: "a node's heartbeat"
        }
    }
}

/// The callback's error, carried from the delivering task back to the waiting thread.
private final class FailureSlot: Sendable {
    private let slot = Mutex<(any Error)?>(nil)
    func set(_ error: any Error) { slot.withLock { $0 = error } }
    var value: (any Error)? { slot.withLock { $0 } }
}
