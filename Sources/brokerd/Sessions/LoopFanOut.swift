import Broker
import CompressNIO
import Metrics
import NIOCore
import NIOWebSocket
import Synchronization

/// The pushes bound for the connections of one event loop that share a price interval and
/// compression: price updates merged while the loop is busy, and messages kept in order with them.
/// (A loop has one fan-out per interval and compression its connections have,
/// `OutboxSink.fanOut(for:priceInterval:compression:)`; every push to a connection takes its
/// fan-out, so it stays in order with the rest.)
///
/// A push only records its prices on the loop (latest per code, per subscription) and makes sure
/// the loop is writing. Pending prices are encoded once per subscription and written to its
/// connections a slice at a time (`sliceSize` sockets per loop task), so the loop reads new pushes
/// between slices. A loop that falls behind writes fewer, fresher rounds instead of a growing
/// backlog of stale ones: the rate of rounds adapts to what the sockets take, and ingest never
/// waits for the fan-out.
///
/// Prices that arrive while a round of the same subscription is being written join it, unless a
/// message is queued behind that round: the connections it has not reached yet get one message with
/// both (encoded once more for them), and only those it already wrote need a next round. So a tick
/// waits at most for the rest of the round in progress, not for that round and then a whole next one.
/// The pending round remembers which of its pushes each joined connection got, so a next round
/// brings every connection only the prices it has not had: one frame per group of connections that
/// got the same pushes (usually one or two groups).
///
/// Other pushes (bar updates, news, alerts), a client's replies and the close of its connection
/// take the same path, so a connection gets everything in seq order: a message that arrives while
/// price rounds for any of its recipients are pending seals them, and the rounds pending before
/// them (they are encoded and queued ahead of it); prices that come after it start new rounds
/// behind it. A reply queued where its command was applied (`EventStore.execute(_:whenApplied:)`)
/// so lands between the pushes of the events before and after that command. Rounds none of its
/// recipients get stay open to merging, so a stream of bar updates to a few stock subscribers does
/// not stop the rounds of everyone else from merging while the loop is busy. Price rounds of
/// different subscriptions are merged apart, so between themselves they can reach a connection out
/// of seq order.
///
/// With a `priceInterval`, pending rounds are sealed for writing at most once per interval: prices
/// that arrive sooner after the last seal wait for the next one, merged (latest per code), so a
/// connection gets at most one price update per subscription per interval, and the loop writes
/// fewer, fuller rounds. A price after a quiet interval goes out at once, and a message never
/// waits: it seals the rounds its recipients get as always, and they go out ahead of it then,
/// except for a reply or a close (one connection), which takes only its connection's prices out
/// of the rounds, so the others keep waiting. The interval can change while the fan-out runs (a
/// reloaded `price_interval`, `setPriceInterval(_:)`): the next seal keeps the new one.
final class LoopFanOut: Sendable {
    let eventLoop: any EventLoop
    /// How many connections one loop task writes before the loop takes other work.
    let sliceSize: Int
    /// The shortest time between two seals of pending price rounds; zero seals them whenever the
    /// loop is free.
    var priceInterval: TimeAmount {
        .nanoseconds(intervalNanoseconds.load(ordering: .relaxed))
    }
    private let intervalNanoseconds: Atomic<Int64>
    /// Whether its connections negotiated permessage-deflate: messages of some length go out
    /// compressed, each once for all of them (see `PerMessageDeflate`).
    let compresses: Bool
    /// Pending rounds and encoded pushes; only touched on `eventLoop`.
    private let state: NIOLoopBoundBox<State>
    private let dispatch: Metrics.Timer

    /// Enough sockets per task that a task costs little next to its writes (~10 µs each), few
    /// enough that pushes wait a fraction of a millisecond for the loop.
    static let defaultSliceSize = 32

    private struct State {
        var rounds: [Subscription: Round] = [:]
        /// Subscriptions in the order their first pending push arrived.
        var order: [Subscription] = []
        /// Whether a task that writes is queued on the loop.
        var writeQueued = false
        /// Pushes encoded and waiting for the loop, oldest first.
        var encoded = CircularBuffer<Encoded>()
        /// How many of `encoded` are messages or closes (not price rounds).
        var messagesEncoded = 0
        /// The push being written, a slice at a time.
        var writing: InProgress?
        /// When pending rounds were last sealed by the writer (not by a message).
        var lastSeal: NIODeadline?
        /// The writer's next task, when it waits for `priceInterval` to pass; it counts as queued.
        var waitingForInterval: Scheduled<Void>?
        /// The deflate stream of a fan-out that compresses.
        var compressor: ZlibCompressor?
    }

    /// A push encoded once for all its connections on this loop.
    private struct Encoded {
        enum Kind {
            /// A price round: merged per connection when that connection is behind (see `OutboxQueue`).
            case prices(entries: [ServerMessage.PriceEntry], seq: UInt64, subscription: Subscription)
            /// A message every connection must get.
            case message(type: String)
            /// The end of the connections' writers: what they queued goes out, then the close frame
            /// when there is a `code` (see `ConnectionWriter.close`).
            case close(code: WebSocketErrorCode?, reason: String)
        }

        let kind: Kind
        /// What is written (empty for a close: the writer makes its own close frame).
        let frame: ByteBuffer
        let connections: [LiveConnection]
        let since: ContinuousClock.Instant
        /// The bytes deflate saved on `frame` (0 when it is plain).
        var saved = 0

        var isPriceRound: Bool {
            if case .prices = kind { true } else { false }
        }
    }

    private struct InProgress {
        var push: Encoded
        /// How many of its connections have it.
        var written: Int
    }

    private struct Round {
        /// The latest entry per code, with the number of the push that brought it (from 1).
        var entries: [String: (entry: ServerMessage.PriceEntry, push: Int)] = [:]
        /// How many pushes merged.
        var pushes = 0
        var seq: UInt64 = 0
        /// The connections on this loop that get these prices: the subscription's as of the latest push.
        var connections: [LiveConnection] = []
        /// Connections that joined a round in progress: the pushes up to this number reached them.
        var joined: [ObjectIdentifier: Int] = [:]
        /// When the oldest merged push arrived.
        let since: ContinuousClock.Instant

        init(since: ContinuousClock.Instant) {
            self.since = since
        }

        mutating func merge(_ pushed: [ServerMessage.PriceEntry], seq: UInt64, connections: [LiveConnection]) {
            pushes += 1
            for entry in pushed { entries[entry.code] = (entry, pushes) }
            self.seq = seq
            // The newest recipients: a client that subscribed meanwhile gets the merged update,
            // one that left does not.
            self.connections = connections
        }

        /// The entries of the pushes after number `push`.
        func entries(after push: Int) -> [String: ServerMessage.PriceEntry] {
            var newer: [String: ServerMessage.PriceEntry] = [:]
            for (code, merged) in entries where merged.push > push { newer[code] = merged.entry }
            return newer
        }

        /// The connections with prices still to get, grouped by the last push they got (0: none),
        /// in their order; the group that got nothing comes first.
        func pendingGroups() -> [(after: Int, connections: [LiveConnection])] {
            guard !joined.isEmpty else { return pushes > 0 && !connections.isEmpty ? [(0, connections)] : [] }
            var groups: [(after: Int, connections: [LiveConnection])] = [(0, [])]
            for connection in connections {
                let after = joined[ObjectIdentifier(connection)] ?? 0
                guard after < pushes else { continue }
                if let index = groups.firstIndex(where: { $0.after == after }) {
                    groups[index].connections.append(connection)
                } else {
                    groups.append((after, [connection]))
                }
            }
            return groups.filter { !$0.connections.isEmpty }
        }
    }

    /// Bytes deflate saved on the frames queued to compressing connections (per connection).
    private static let savedBytes = Metrics.Counter(label: "brokerd_ws_deflate_saved_bytes_total")

    /// The histogram of pushes to their last write, of the broker's own fan-outs.
    static let dispatchLabel = "brokerd_fanout_dispatch_seconds"
    /// The same for fan-outs of connections that asked for a price interval of their own: their
    /// waits for a longer one than the broker's would swamp the broker's own dispatch times.
    static let heldDispatchLabel = "brokerd_fanout_dispatch_held_seconds"

    init(
        eventLoop: any EventLoop, sliceSize: Int = LoopFanOut.defaultSliceSize, priceInterval: TimeAmount = .zero,
        compression: Bool = false, dispatchLabel: String = LoopFanOut.dispatchLabel
    ) {
        self.eventLoop = eventLoop
        dispatch = Metrics.Timer(label: dispatchLabel)
        self.sliceSize = max(1, sliceSize)
        intervalNanoseconds = Atomic(max(.zero, priceInterval).nanoseconds)
        var state = State()
        // Without a deflate stream (zlib out of memory) messages go out plain, which is always allowed.
        if compression { state.compressor = PerMessageDeflate.makeCompressor() }
        compresses = state.compressor != nil
        self.state = .makeBoxSendingValue(state, eventLoop: eventLoop)
    }

    /// Seals pending price rounds at most once per `interval` from now on; callable from anywhere.
    /// A writer waiting for the old interval to pass looks again: it goes on at once when the new
    /// one has passed since the last seal, else it waits for the rest of the new one.
    func setPriceInterval(_ interval: TimeAmount) {
        intervalNanoseconds.store(max(.zero, interval).nanoseconds, ordering: .relaxed)
        eventLoop.execute { [self] in
            guard let waiting = state.value.waitingForInterval else { return }
            waiting.cancel()
            state.value.waitingForInterval = nil
            writeSlice()
        }
    }

    /// Records a price update for `connections` (all on this loop); callable from anywhere.
    func push(
        _ entries: [ServerMessage.PriceEntry], seq: UInt64, for subscription: Subscription, to connections: [LiveConnection]
    ) {
        let now = ContinuousClock.now
        eventLoop.execute { [self] in
            if state.value.rounds[subscription] == nil {
                state.value.rounds[subscription] = Round(since: now)
                state.value.order.append(subscription)
            }
            state.value.rounds[subscription]!.merge(entries, seq: seq, connections: connections)
            scheduleWrite()
        }
    }

    /// Queues a message (`payload`, of `type`) for `connections` (all on this loop) behind
    /// everything pending for them; callable from anywhere.
    func push(message payload: ByteBuffer, type: String, to connections: [LiveConnection]) {
        let now = ContinuousClock.now
        eventLoop.execute { [self] in
            let (frame, saved) = framed(payload)
            enqueue(Encoded(kind: .message(type: type), frame: frame, connections: connections, since: now, saved: saved))
        }
    }

    /// `payload` as the text frame this fan-out writes: compressed when it compresses, the
    /// message is long enough and deflate makes it shorter. Call on the loop.
    func textFrame(_ payload: ByteBuffer) -> ByteBuffer {
        framed(payload).frame
    }

    /// `textFrame(payload)` and the bytes deflate saved on it.
    private func framed(_ payload: ByteBuffer) -> (frame: ByteBuffer, saved: Int) {
        if payload.readableBytes >= PerMessageDeflate.minimumPayload, let compressor = state.value.compressor,
            let compressed = PerMessageDeflate.compressedTextFrame(payload, compressor: compressor)
        {
            return (compressed, WebSocketWire.frameLength(payload: payload.readableBytes) - compressed.readableBytes)
        }
        return (WebSocketWire.textFrame(payload), 0)
    }

    /// Closes `connection`'s writer (on this loop) behind everything pending for it, with the close
    /// frame `code` when there is one; callable from anywhere.
    func close(_ connection: LiveConnection, code: WebSocketErrorCode?, reason: String) {
        let now = ContinuousClock.now
        eventLoop.execute { [self] in
            enqueue(Encoded(kind: .close(code: code, reason: reason), frame: ByteBuffer(), connections: [connection], since: now))
        }
    }

    /// Queues a message or a close behind the pending rounds that reach any of its connections:
    /// their prices are older. Call on the loop.
    private func enqueue(_ encoded: Encoded) {
        sealPendingPrices(reaching: encoded.connections)
        state.value.encoded.append(encoded)
        state.value.messagesEncoded += 1
        // A message does not wait for the price interval: the writer goes on now.
        if let waiting = state.value.waitingForInterval {
            waiting.cancel()
            state.value.waitingForInterval = nil
            eventLoop.execute { [self] in writeSlice() }
        } else {
            scheduleWrite()
        }
    }

    private func scheduleWrite() {
        guard !state.value.writeQueued else { return }
        state.value.writeQueued = true
        eventLoop.execute { [self] in writeSlice() }
    }

    /// Writes the next `sliceSize` connections of what is pending, oldest push first, and queues
    /// itself again while anything is left.
    private func writeSlice() {
        if let due = sealDeadline() {
            state.value.waitingForInterval = eventLoop.scheduleTask(deadline: due) { [self] in
                state.value.waitingForInterval = nil
                writeSlice()
            }
            return
        }
        guard var current = state.value.writing ?? nextPush().map({ InProgress(push: $0, written: 0) }) else {
            state.value.writeQueued = false
            return
        }
        // A message queued behind the round must stay ahead of prices that came after it. Price
        // rounds queued behind it (other groups of connections, other subscriptions) do not matter.
        if state.value.messagesEncoded == 0 { joinPendingPrices(&current) }
        let push = current.push
        let slice = push.connections[current.written..<min(current.written + sliceSize, push.connections.count)]
        switch push.kind {
        case .prices(let entries, let seq, let subscription):
            for connection in slice {
                connection.accept(connection.writer.deliverPrices(push.frame, entries: entries, seq: seq, for: subscription))
            }
            LabeledCounters.messagesOut.increment("price_update", by: slice.count)
        case .message(let type):
            for connection in slice { connection.accept(connection.writer.deliver(push.frame)) }
            LabeledCounters.messagesOut.increment(type, by: slice.count)
        case .close(let code, let reason):
            for connection in slice { connection.writer.closeNow(code, reason: reason, discardQueued: false) }
        }
        // Bytes queued to the slice's connections (a close has no frame here: its writer makes it).
        if push.frame.readableBytes > 0 {
            LabeledCounters.bytesOut.increment(push.saved > 0 ? "deflate" : "none", by: push.frame.readableBytes * slice.count)
            if push.saved > 0 { Self.savedBytes.increment(by: push.saved * slice.count) }
        }
        current.written = slice.endIndex
        if current.written < push.connections.count {
            state.value.writing = current
        } else {
            state.value.writing = nil
            // From the push (the oldest merged into a round) to its last socket write on this loop.
            dispatch.record(duration: ContinuousClock.now - push.since)
        }
        eventLoop.execute { [self] in writeSlice() }
    }

    /// When the writer, about to seal pending price rounds, must wait for `priceInterval` to pass
    /// since the last seal; nil when it goes on now.
    private func sealDeadline() -> NIODeadline? {
        let interval = priceInterval
        guard interval > .zero, state.value.writing == nil, state.value.encoded.isEmpty, !state.value.order.isEmpty,
            let last = state.value.lastSeal, eventLoop.now < last + interval
        else { return nil }
        return last + interval
    }

    /// The oldest encoded push; pending rounds stay open to merging until everything encoded
    /// before them is out.
    private func nextPush() -> Encoded? {
        if state.value.encoded.isEmpty {
            encodePendingRounds()
            // A seal that found every connection served already (by replies) is not one. Noted
            // without an interval too: one set later (a reload) counts from the last seal.
            if !state.value.encoded.isEmpty { state.value.lastSeal = eventLoop.now }
        }
        guard let next = state.value.encoded.popFirst() else { return nil }
        if !next.isPriceRound { state.value.messagesEncoded -= 1 }
        return next
    }

    /// Lets prices that arrived for the subscription of the round being written join it for the
    /// connections it has not reached yet; the pending round notes which pushes they got.
    private func joinPendingPrices(_ current: inout InProgress) {
        guard case .prices(let entries, _, let subscription) = current.push.kind,
            var pending = state.value.rounds[subscription]
        else { return }
        let unreached = current.push.connections[current.written...]
        guard let first = unreached.first else { return }
        // Everything unreached got the same pushes of the pending round (all joined together or none).
        let after = pending.joined[ObjectIdentifier(first)] ?? 0
        guard after < pending.pushes else { return }
        let subscribed = Self.subscribed(unreached, in: pending.connections)
        var joining: [LiveConnection] = []
        var staying: [LiveConnection] = []
        for connection in unreached {
            let id = ObjectIdentifier(connection)
            if subscribed(connection), pending.joined[id] ?? 0 == after {
                joining.append(connection)
                pending.joined[id] = pending.pushes
            } else {
                staying.append(connection)
            }
        }
        guard !joining.isEmpty else { return }
        if joining.count == pending.connections.count {
            state.value.rounds[subscription] = nil
            state.value.order.removeAll { $0 == subscription }
        } else {
            state.value.rounds[subscription] = pending
        }
        // The rest keep the round as it was, next in line (no message is queued: see `writeSlice`).
        if !staying.isEmpty {
            state.value.encoded.prepend(
                Encoded(
                    kind: current.push.kind, frame: current.push.frame, connections: staying, since: current.push.since,
                    saved: current.push.saved))
        }
        var merged = Dictionary(entries.map { ($0.code, $0) }, uniquingKeysWith: { $1 })
        for (code, entry) in pending.entries(after: after) { merged[code] = entry }
        current = InProgress(
            push: encode(merged, seq: pending.seq, subscription: subscription, to: joining, since: current.push.since),
            written: 0)
    }

    /// Whether a connection of `unreached` is among `latest`, the recipients of pending prices.
    private static func subscribed(
        _ unreached: ArraySlice<LiveConnection>, in latest: [LiveConnection]
    ) -> (LiveConnection) -> Bool {
        // Usually the subscribers did not change: the round in progress has a tail of the same list.
        if latest.count >= unreached.count, zip(unreached, latest.suffix(unreached.count)).allSatisfy({ $0 === $1 }) {
            return { _ in true }
        }
        let current = Set(latest.map(ObjectIdentifier.init))
        return { current.contains(ObjectIdentifier($0)) }
    }

    /// A price round encoded once for `connections`. Call on the loop.
    private func encode(
        _ entries: [String: ServerMessage.PriceEntry], seq: UInt64, subscription: Subscription, to connections: [LiveConnection],
        since: ContinuousClock.Instant
    ) -> Encoded {
        let sorted = entries.values.sorted { $0.code < $1.code }
        let (frame, saved) = framed(ServerMessage.encode(ServerMessage.PriceUpdate(entries: sorted, seq: seq, subscription: subscription)))
        return Encoded(
            kind: .prices(entries: sorted, seq: seq, subscription: subscription), frame: frame, connections: connections, since: since,
            saved: saved)
    }

    /// Queues the pending prices of `recipients` ahead of a message to them: the rounds that reach
    /// any of them, and those before; for a reply with a price interval, its connection's prices alone.
    private func sealPendingPrices(reaching recipients: [LiveConnection]) {
        let isRecipient: (LiveConnection) -> Bool
        if recipients.count == 1 {
            // A reply: one connection, compared by identity.
            let only = recipients[0]
            // With a price interval, only its connection's prices: sealing the rounds would send
            // every other connection of them an update before the interval, once per reply (a
            // thousand clients pinging every 30 s would seal 33 times a second).
            if priceInterval > .zero { return separatePendingPrices(of: only) }
            isRecipient = { $0 === only }
        } else {
            let recipients = Set(recipients.map(ObjectIdentifier.init))
            isRecipient = { recipients.contains(ObjectIdentifier($0)) }
        }
        let reaching = state.value.order.lastIndex { subscription in
            state.value.rounds[subscription]?.connections.contains(where: isRecipient) ?? false
        }
        if let reaching { encodePendingRounds(through: reaching) }
    }

    /// Queues the prices of the pending rounds that `connection` has not had, one push per round in
    /// their order, and notes that it got them; the rounds stay open for the others.
    private func separatePendingPrices(of connection: LiveConnection) {
        let id = ObjectIdentifier(connection)
        for subscription in state.value.order {
            guard var round = state.value.rounds[subscription], round.connections.contains(where: { $0 === connection }) else { continue }
            let after = round.joined[id] ?? 0
            guard after < round.pushes else { continue }
            state.value.encoded.append(
                encode(round.entries(after: after), seq: round.seq, subscription: subscription, to: [connection], since: round.since))
            round.joined[id] = round.pushes
            state.value.rounds[subscription] = round
        }
    }

    /// Turns the merged pending rounds, all or those up to `order[last]`, into encoded ones, in
    /// the order their first pushes came.
    private func encodePendingRounds(through last: Int? = nil) {
        let end = min(last.map { $0 + 1 } ?? state.value.order.count, state.value.order.count)
        let sealed = state.value.order[..<end]
        state.value.order.removeFirst(end)
        for subscription in sealed {
            guard let round = state.value.rounds.removeValue(forKey: subscription) else { continue }
            for group in round.pendingGroups() {
                state.value.encoded.append(
                    encode(
                        round.entries(after: group.after), seq: round.seq, subscription: subscription, to: group.connections,
                        since: round.since))
            }
        }
    }
}
