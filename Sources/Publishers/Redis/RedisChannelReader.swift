import Broker
import Journal
import Logging

/// SUBSCRIBEs to the tick channel and the shared news, alerts, signals and k-lines channels (the
/// data a node ingests), or to the nodes' removals and nodes channels, on a thread and connection
/// of its own, and hands every message to the broker, reconnecting with backoff until stopped.
///
/// The nodes' channels have a reader of their own (`Role.control`): an answer to an operator's
/// lookup is up to a megabyte per message and sixteen per node, and every node reads every one
/// (pub/sub has no addressing). Read beside the ticks, each would hold them up while it is read,
/// checked and handed over, and a pile of them in Redis' output buffer for the connection
/// (`client-output-buffer-limit pubsub`) could get the tick subscription cut.
final class RedisChannelReader: Sendable {
    /// Which channels a reader subscribes to.
    enum Role: Sendable {
        /// Ticks, news, alerts, signals, k-lines (`RedisTickSourceConfiguration.dataChannels`).
        case data
        /// Removals and heartbeats (`RedisTickSourceConfiguration.controlChannels`).
        case control
    }

    /// What a channel carries.
    private enum Content: Sendable { case ticks, news, alerts, signals, klines, removals, nodes }

    private let address: RedisAddress
    private let channels: [(name: String, content: Content)]
    /// Its connection, as the status names it.
    private let subscription: RedisSourceStatus.Connection
    private let node: NodeOrigin?
    /// Whether the shared log is read: then pub/sub copies of what is in it are skipped.
    private let readsLog: Bool
    private let connectTimeout: Duration
    private let backoff: ReconnectBackoff
    private let healthCheckInterval: Duration
    private let maxTicksPerBatch: Int
    private let decoder: TickPayloadDecoder
    /// With a shared secret (as last reloaded): checks the signatures of what the nodes publish,
    /// and whether a node's word must be signed (`mayTake`).
    private let secrets: SharedSecrets
    /// With a shared secret: refuses signed messages read before (or too old), and those signed
    /// before this reader was made (pub/sub keeps no history to recall what a reader of an earlier
    /// process took; that process had stopped before this one started, see `ReplayGuard`).
    private let replays = ReplayGuard(notSignedBefore: WallClock.microsecondsNow())
    private let delivery: TickBatchDelivery
    private let status: RedisSourceStatus
    private let logger: Logger
    private let control = ReaderThreadControl()

    /// A reader of the channels of `role`; make one only when `configuration` has some.
    init(
        configuration: RedisTickSourceConfiguration, role: Role, delivery: TickBatchDelivery, status: RedisSourceStatus,
        logger: Logger
    ) {
        address = configuration.address
        let configured: [(String?, Content)] =
            switch role {
            case .data:
                [
                    (configuration.channel, .ticks), (configuration.newsChannel, .news), (configuration.alertsChannel, .alerts),
                    (configuration.signalsChannel, .signals), (configuration.klinesChannel, .klines),
                ]
            case .control: [(configuration.removalsChannel, .removals), (configuration.nodesChannel, .nodes)]
            }
        channels = configured.compactMap { name, content in name.map { ($0, content) } }
        subscription = role == .data ? .channel : .control
        node = configuration.node
        readsLog = configuration.log != nil
        connectTimeout = configuration.connectTimeout
        backoff = configuration.backoff
        healthCheckInterval = configuration.healthCheckInterval
        maxTicksPerBatch = configuration.limits.maxTicksPerBatch
        decoder = TickPayloadDecoder(limits: configuration.limits)
        secrets = configuration.secrets
        self.delivery = delivery
        self.status = status
        self.logger = logger
        // A move ends the connection (or the backoff sleep) and the next one opens at the new address.
        address.onMove { [control] in control.requestReconnect() }
    }

    private var channelList: String { channels.map(\.name).joined(separator: ",") }

    /// Starts the reader thread.
    func start() {
        status.set(subscription, .connecting)
        ReaderThreadControl.spawn(name: "redis-sub:\(channels.first?.name ?? "")") { [self] in run() }
    }

    /// Interrupts a blocked read or a backoff sleep and tells the thread to end.
    func requestStop() { control.requestStop() }

    /// Returns once the thread has ended.
    func waitUntilStopped() async { await control.waitUntilFinished() }

    private func run() {
        let activity = subscription == .channel ? "Redis subscription" : "Redis subscription of the nodes' channels"
        ReconnectingSession(
            connection: subscription, activity: activity, metadata: ["channels": "\(channelList)"], status: status, control: control,
            logger: logger
        ).run(backoff: backoff) { working throws(RedisError) in
            try session { working([:]) }
        }
    }

    /// One connection's life: connect, subscribe, read until the connection fails or is shut down.
    ///
    /// Unlike the stream reader, it hands batches over without retrying: pub/sub keeps nothing to
    /// read again, and holding one batch back would stall (and, past Redis' output buffer limit,
    /// disconnect) the subscription. A batch the broker could not journal is logged, counted in
    /// `deliveryFailures` and lost; feeds that must not lose ticks use the stream.
    private func session(onSubscribed: () -> Void) throws(RedisError) {
        let connection = try RedisConnection(
            url: address.url, timeout: connectTimeout, name: RedisConnection.clientName(subscription.name, node: node?.node))
        defer {
            control.detach()
            connection.close()
        }
        guard control.attach(connection.fileDescriptor) else { return }
        connection.enableKeepAlive()
        // One SUBSCRIBE for all channels: Redis confirms each in turn before any message follows.
        let command = "SUBSCRIBE \(channels.map(\.name).joined(separator: " "))"
        var reply = try connection.command(["SUBSCRIBE"] + channels.map(\.name))
        for index in channels.indices {
            if index > 0 { reply = try connection.nextReply() }
            guard case .array(let items) = reply, items.first?.text == "subscribe" else {
                if case .error(let message) = reply { throw .commandFailed(command: command, message: message) }
                throw .unexpectedReply(command: command, reply: reply.description)
            }
        }
        onSubscribed()
        var pingUnanswered = false
        while true {
            // Wait for one message, then take everything else already waiting (buffered or on the
            // socket), so what piled up while the broker took the last batch becomes one batch: one
            // journal commit and one fan-out round instead of one per message.
            // News and alert rules are handed over as they come, after the ticks before them.
            guard let first = try connection.nextReply(within: healthCheckInterval) else {
                // Quiet: a PING (answered among the messages) tells a Redis that is there from one
                // that took the connection and answers nothing (stuck in a slow command, frozen).
                if pingUnanswered {
                    throw .connectionLost(reason: "Redis answered no PING within \(healthCheckInterval)")
                }
                try connection.send(["PING"])
                pingUnanswered = true
                if control.isStopping { return }
                continue
            }
            pingUnanswered = false
            let checking = secrets.now
            var ticks: [FedTick] = []
            var next: RedisReply? = first
            while let push = next {
                if let (content, raw) = message(in: push), let (payload, signature) = unwrapped(raw, content: content, checking: checking) {
                    switch content {
                    case .ticks:
                        ticks += decodeTicks(payload, signature: signature, checking: checking)
                    case .removals where node.map({ SharedMessageCodec.isLargeAnswer(payload, forAnotherNodeThan: $0.node) }) == true:
                        // Another node's answer: dropped undecoded, as it would be decoded.
                        status.update { $0.answersForOthersSkipped += 1 }
                    case .news, .alerts, .signals, .klines, .removals, .nodes:
                        if let update = decodeShared(payload, content: content, signature: signature, checking: checking) {
                            if !ticks.isEmpty { delivery.hand(ticks) }
                            ticks = []
                            delivery.hand(update)
                        }
                    }
                }
                if ticks.count >= maxTicksPerBatch { break }
                do throws(RedisError) {
                    next = try connection.availableReply()
                } catch {
                    // Redis went away behind messages already read: their ticks are as good as
                    // any, and pub/sub will not send them again.
                    if !ticks.isEmpty { delivery.hand(ticks) }
                    throw error
                }
            }
            if !ticks.isEmpty { delivery.hand(ticks) }
            if control.isStopping { return }
        }
    }

    /// The channel's content and the payload of a pushed `["message", channel, payload]`; nil for anything else.
    private func message(in push: RedisReply) -> (Content, [UInt8])? {
        guard case .array(let parts) = push, parts.count == 3, parts[0].text == "message", case .bulk(let payload) = parts[2],
            let name = parts[1].text, let content = channels.first(where: { $0.name == name })?.content
        else { return nil }
        status.update { $0.messages += 1 }
        return (content, payload)
    }

    /// How a message read was signed.
    private enum Signature {
        case none
        /// With the shared secret, and this stamp (nil: by a build before stamps).
        case signed(SharedMessageSigner.Stamp?)
    }

    /// The message as the codecs read it, and how it was signed; nil (reported) when it carries a
    /// signature made with another secret. Without a secret, every message as it is.
    private func unwrapped(_ payload: [UInt8], content: Content, checking: SharedSecrets.Current) -> (payload: [UInt8], signature: Signature)? {
        guard let signer = checking.signer else { return (payload, .none) }
        switch signer.verify(payload) {
        case .signed(let body, let stamp): return (body, .signed(stamp))
        case .unsigned(let body): return (body, .none)
        case .forged:
            delivery.reportUnsigned("\(channelName(of: content)): signed with another secret, or changed since")
            return nil
        }
    }

    /// Whether a message may be taken as it is signed: with a shared secret, what a node tags
    /// (`origin`) must be signed, and so must every message of the removals and nodes channels
    /// (an operator's tool uses the HTTP API then); a signed message must be new (`ReplayGuard`).
    /// Untagged data from feeders is taken as before, and so is everything unsigned while
    /// signatures are not required.
    private func mayTake(_ signature: Signature, origin: NodeOrigin?, content: Content, checking: SharedSecrets.Current) -> Bool {
        if case .signed(let stamp) = signature {
            return delivery.admits(
                stamp, from: origin, at: WallClock.microsecondsNow(), checkedBy: replays, requiringStamps: checking.requiresSignatures,
                in: channelName(of: content))
        }
        guard checking.signer != nil, checking.requiresSignatures else { return true }
        let needed = origin != nil || content == .removals || content == .nodes
        if needed {
            // The node id as the message gives it (a tick's tag is not checked as an id): bounded.
            let from = origin.map { "node \($0.node.prefix(64))'s message" } ?? "a message"
            delivery.reportUnsigned("\(channelName(of: content)): \(from) is not signed")
        }
        return !needed
    }

    private func channelName(of content: Content) -> String {
        channels.first { $0.content == content }?.name ?? ""
    }

    /// The ticks of one message on the tick channel; none when it is malformed, our own, a node's
    /// without the signature a shared secret asks for, or a signed message's copy.
    private func decodeTicks(_ payload: [UInt8], signature: Signature, checking: SharedSecrets.Current) -> [FedTick] {
        let outcome = decoder.decode(json: payload, timestamp: WallClock.microsecondsNow())
        guard mayTake(signature, origin: outcome.origin, content: .ticks, checking: checking) else { return [] }
        if isOwn(outcome.origin) { return [] }
        delivery.reportMalformed(outcome.problems)
        return outcome.ticks
    }

    /// The update in one message on a shared channel other than ticks; nil when it is malformed,
    /// our own, without the signature a shared secret asks for, or a signed message's copy.
    private func decodeShared(_ payload: [UInt8], content: Content, signature: Signature, checking: SharedSecrets.Current) -> SharedUpdate? {
        let channel = channelName(of: content)
        let decoded: SharedMessageCodec.Message
        do {
            switch content {
            case .news: decoded = try SharedMessageCodec.decodeNews(payload, channel: channel, now: WallClock.microsecondsNow())
            case .alerts, .ticks: decoded = try SharedMessageCodec.decodeAlerts(payload, channel: channel)
            case .signals: decoded = try SharedMessageCodec.decodeSignals(payload, channel: channel)
            case .klines: decoded = try SharedMessageCodec.decodeKlines(payload, channel: channel, now: WallClock.microsecondsNow())
            case .removals: decoded = try SharedMessageCodec.decodeRemovals(payload, channel: channel, now: WallClock.microsecondsNow())
            case .nodes: decoded = try SharedMessageCodec.decodeNodes(payload, channel: channel)
            }
        } catch {
            delivery.reportMalformed([error.description])
            return nil
        }
        guard mayTake(signature, origin: decoded.origin, content: content, checking: checking) else { return nil }
        // This process's own heartbeat is no update (nor counted as one skipped).
        if decoded.update.isHeartbeat, let node, decoded.origin == node { return nil }
        if isOwn(decoded.origin) { return nil }
        // Read from the log, in its order and after a restart too; old builds' nodes log nothing.
        // While the log cannot be read (its key of another type, a Redis refusing XREAD) the copy
        // is taken instead: read later from the log too, it brings nothing new.
        if readsLog, status.isReadingLog, SharedMessageCodec.isLogged(payload) {
            status.update { $0.logCopiesSkipped += 1 }
            return nil
        }
        return decoded.update
    }

    /// Whether a message was published by this node: it journaled that itself before publishing,
    /// so ingesting the echo would journal and deliver it twice.
    private func isOwn(_ origin: NodeOrigin?) -> Bool {
        guard let node, let origin, origin.node == node.node else { return false }
        status.update { $0.ownSkipped += 1 }
        if origin.instance != node.instance {
            status.update { $0.nodeIDConflicts += 1 }
            let (log, suppressed) = status.shouldLog(.nodeIDConflict)
            if log {
                logger.error(
                    "another brokerd process publishes with this node's id; its messages are skipped. Give every node its own node_id",
                    metadata: ["node": "\(node.node)", "other_instance": "\(origin.instance)", "suppressed": .stringConvertible(suppressed)])
            }
        }
        return true
    }
}
