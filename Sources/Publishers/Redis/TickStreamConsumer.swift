import Broker
import Journal

/// Hands the ticks of tick-stream entries to the broker, each batch with the id of its last entry.
struct TickStreamConsumer: StreamEntryConsumer {
    let decoder: TickPayloadDecoder
    let delivery: TickBatchDelivery
    /// Largest batch handed over at once (the decider's `maxTicksPerBatch`).
    let maxTicksPerBatch: Int

    /// Decodes entries and hands them over in batches that end on entry boundaries, each carrying
    /// the id of its last entry, so a journaled id always means "everything up to here is in".
    /// False when the reader was stopped before all of them were delivered.
    ///
    /// An entry is one unit, like one `POST /api/ticks`: one with more ticks than a batch takes is
    /// refused whole, as that route refuses such a batch, and the position moves past it.
    func take(_ entries: [RedisStreamReader.Entry], retrying control: ReaderThreadControl) -> Bool {
        let timestamp = WallClock.microsecondsNow()
        var pending: [FedTick] = []
        var pendingID: String?
        for entry in entries {
            let outcome = decoder.decode(streamFields: entry.fields, timestamp: timestamp)
            delivery.reportMalformed(outcome.problems)
            if outcome.ticks.count > maxTicksPerBatch {
                delivery.reportMalformed([
                    "stream entry \(entry.id) holds \(outcome.ticks.count) ticks, more than one batch takes (\(maxTicksPerBatch)); refused whole"
                ])
            } else {
                if let pendingID, pending.count + outcome.ticks.count > maxTicksPerBatch {
                    guard delivery.hand(pending, streamID: pendingID, retrying: control) else { return false }
                    pending = []
                }
                pending += outcome.ticks
            }
            pendingID = entry.id
        }
        guard let pendingID, !pending.isEmpty else { return true }
        return delivery.hand(pending, streamID: pendingID, retrying: control)
    }

    func pin(_ position: String, retrying control: ReaderThreadControl) -> Bool {
        delivery.hand(position: position, retrying: control)
    }
}
