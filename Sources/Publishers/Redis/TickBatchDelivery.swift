import Broker
import Dispatch
import Logging
import Synchronization

/// Hands batches from a reader thread to the broker's async callbacks and waits for them to finish.
///
/// Waiting is the backpressure: the reader does not read the next message until the broker has
/// taken the previous batch. The wait blocks the reader's own thread, never a pool thread.
struct TickBatchDelivery: Sendable {
    /// The broker's callback for ticks.
    let deliver: @Sendable (TickBatch) async throws -> Void
    /// The broker's callback for news and alert rules shared by other nodes.
    let deliverShared: @Sendable (SharedUpdate) async throws -> Void
    /// Where counters go.
    let status: RedisSourceStatus
    /// Largest batch handed over at once (the decider's `maxTicksPerBatch`).
    let maxTicksPerBatch: Int
    let logger: Logger

    /// Delivers `ticks` in batches no larger than the limit; only the last batch carries `streamID`.
    func hand(_ ticks: [PriceTick], streamID: String?) {
        var start = 0
        while start < ticks.count {
            let end = min(start + maxTicksPerBatch, ticks.count)
            let batch = TickBatch(ticks: Array(ticks[start..<end]), streamID: end == ticks.count ? streamID : nil)
            handOne(batch)
            start = end
        }
    }

    /// Delivers one update from another node (news, an alert rule, a signal list, k-line bars).
    func hand(_ update: SharedUpdate) {
        let deliverShared = self.deliverShared
        if let reason = waitFor({ try await deliverShared(update) }) {
            status.update { $0.deliveryFailures += 1 }
            logRefusal(what: "\(update.kind) from another node", reason: reason)
        } else {
            status.update { $0.shared += 1 }
        }
    }

    private func handOne(_ batch: TickBatch) {
        let deliver = self.deliver
        if let reason = waitFor({ try await deliver(batch) }) {
            status.update {
                $0.deliveryFailures += 1
                if let id = batch.streamID { $0.lastStreamID = id }
            }
            logRefusal(what: "a batch of \(batch.ticks.count) ticks", reason: reason)
        } else {
            status.update {
                $0.ticks += batch.ticks.count
                if let id = batch.streamID { $0.lastStreamID = id }
            }
        }
    }

    /// Runs `body` as a task and blocks this (reader) thread until it is done; the error text if it threw.
    private func waitFor(_ body: @escaping @Sendable () async throws -> Void) -> String? {
        let done = DispatchSemaphore(value: 0)
        let failure = FailureSlot()
        Task {
            do { try await body() } catch { failure.set(String(describing: error)) }
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
                metadata: ["error": "\(reason)", "suppressed": "\(suppressed)"])
        }
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
                metadata: ["reason": "\(problems[0])", "suppressed": "\(suppressed)"])
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
        }
    }
}

/// The callback's error text, carried from the delivering task back to the waiting thread.
private final class FailureSlot: Sendable {
    private let slot = Mutex<String?>(nil)
    func set(_ reason: String) { slot.withLock { $0 = reason } }
    var value: String? { slot.withLock { $0 } }
}
