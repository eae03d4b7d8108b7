/// What one client received of the ticks in the measured stretch.
///
/// Ticks with ids below `measuringFrom` (warm-up, earlier phases) only move `lastSeen`. For a
/// measured tick the client either received it, or it was superseded by a later tick of the same
/// code that did arrive (coalesced by the broker), or it is lost.
struct DeliveryTally: Sendable {
    /// First tick id counted; `UInt64.max` while not measuring.
    private(set) var measuringFrom = UInt64.max
    private(set) var received: UInt64 = 0
    private(set) var coalesced: UInt64 = 0
    /// Entries whose tick id was not newer than one already received for the code.
    private(set) var duplicates: UInt64 = 0
    /// Entries whose code does not match the code of their tick id, or is not in the strategy.
    private(set) var mismatched: UInt64 = 0
    /// Entries whose tick id was never sent.
    private(set) var unknown: UInt64 = 0
    /// `price_update` messages that carried at least one measured entry.
    private(set) var priceMessages: UInt64 = 0
    /// Newest tick id received per code index (0: none yet).
    private var lastSeen: [UInt64]

    init(strategySize: Int) {
        lastSeen = Array(repeating: 0, count: strategySize)
    }

    /// Starts a measured stretch at tick `firstID`, clearing the counters but not `lastSeen`.
    mutating func beginMeasuring(from firstID: UInt64) {
        let seen = lastSeen
        self = DeliveryTally(strategySize: seen.count)
        lastSeen = seen
        measuringFrom = firstID
    }

    /// Stops counting; returns the tally of the stretch.
    mutating func endMeasuring() -> DeliveryTally {
        let finished = self
        measuringFrom = .max
        return finished
    }

    /// Records the entries of one `price_update`, with their send times, received at `receivedAt`;
    /// appends the latency in microseconds of each measured entry to `latencies`.
    mutating func record(
        _ entries: [ScannedEntry], sentAt: [UInt64], receivedAt: UInt64, strategy: BenchStrategy,
        latencies: inout [UInt64]
    ) {
        var measuredEntries = 0
        for (entry, sent) in zip(entries, sentAt) {
            let id = entry.tickID
            guard sent != 0 else {
                unknown += 1
                continue
            }
            let code = strategy.codeIndex(ofTick: id)
            guard strategy.codeIndex(ofCode: entry.code) == code else {
                mismatched += 1
                continue
            }
            let previous = lastSeen[code]
            guard id > previous else {
                if id >= measuringFrom { duplicates += 1 }
                continue
            }
            lastSeen[code] = id
            guard id >= measuringFrom else { continue }
            // Ticks of this code between the previous one and this one were superseded.
            let skippedFrom = max(previous + 1, measuringFrom)
            if id > skippedFrom {
                coalesced += strategy.tickCount(ofCode: code, in: skippedFrom...(id - 1))
            }
            received += 1
            measuredEntries += 1
            latencies.append(receivedAt > sent ? (receivedAt - sent) / 1_000 : 0)
        }
        if measuredEntries > 0 { priceMessages += 1 }
    }

    /// Whether the last measured tick of every code (`finalIDs`, 0 for none) has arrived.
    func hasReceived(finalIDs: [UInt64]) -> Bool {
        zip(lastSeen, finalIDs).allSatisfy { seen, final in seen >= final }
    }

    /// Adds another client's tally (the fleet's total).
    mutating func add(_ other: DeliveryTally) {
        received += other.received
        coalesced += other.coalesced
        duplicates += other.duplicates
        mismatched += other.mismatched
        unknown += other.unknown
        priceMessages += other.priceMessages
    }
}
