import Broker
import Dispatch
import Logging
import Synchronization

/// Hands batches from a reader thread to the broker's async callback and waits for it to finish.
///
/// Waiting is the backpressure: the reader does not read the next message until the broker has
/// taken the previous batch. The wait blocks the reader's own thread, never a pool thread.
struct TickBatchDelivery: Sendable {
    /// The broker's callback.
    let deliver: @Sendable (TickBatch) async throws -> Void
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

    private func handOne(_ batch: TickBatch) {
        let done = DispatchSemaphore(value: 0)
        let failure = FailureSlot()
        let deliver = self.deliver
        Task {
            do { try await deliver(batch) } catch { failure.set(String(describing: error)) }
            done.signal()
        }
        done.wait()
        if let reason = failure.value {
            status.update {
                $0.deliveryFailures += 1
                if let id = batch.streamID { $0.lastStreamID = id }
            }
            let (log, suppressed) = status.shouldLog(.deliveryFailure)
            if log {
                logger.warning(
                    "broker refused a batch from Redis; skipped",
                    metadata: ["ticks": "\(batch.ticks.count)", "error": "\(reason)", "suppressed": "\(suppressed)"])
            }
        } else {
            status.update {
                $0.ticks += batch.ticks.count
                if let id = batch.streamID { $0.lastStreamID = id }
            }
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

/// The callback's error text, carried from the delivering task back to the waiting thread.
private final class FailureSlot: Sendable {
    private let slot = Mutex<String?>(nil)
    func set(_ reason: String) { slot.withLock { $0 = reason } }
    var value: String? { slot.withLock { $0 } }
}
