import Broker
import Logging
import Synchronization

/// Feeds the broker with ticks from Redis: a pub/sub channel, a stream, or both; and with the news
/// and alert rules other nodes share, when their channels are configured.
///
/// Each configured connection runs on a thread of its own with blocking hiredis I/O, hands every
/// batch to `deliver` and waits for it before reading on, and reconnects with backoff when Redis
/// goes away. The channel and the stream are read independently, so `deliver` may be called from
/// both at once; batches from pub/sub carry no stream id. The nodes' removals and heartbeats
/// channels are subscribed on a connection apart from the ticks' (`RedisChannelReader.Role`), so
/// `deliverShared` may be called from two threads at once too. A source runs once: `start()`
/// then `stop()`.
public final class RedisTickSource: Sendable {
    /// Receives each batch; the source reads on only after it returns. Throw a `BrokerError` to
    /// refuse a batch as invalid: it is logged and skipped. Any other error means it could not be
    /// journaled: the stream reader then delivers the same batch again with backoff and never reads
    /// past it; a pub/sub batch, which cannot be read again, is logged and skipped.
    public typealias Deliver = @Sendable (TickBatch) async throws -> Void
    /// Receives each news item or alert-rule change shared by another node, like `Deliver`.
    public typealias DeliverShared = @Sendable (SharedUpdate) async throws -> Void
    /// Receives each entry of the shared log: its update (nil when there is nothing to apply, only
    /// the position to journal), whether this node wrote it, and its id. Like the stream's
    /// `Deliver`, it is delivered again until it is journaled; a `BrokerError` skips the update
    /// and delivers the position alone.
    public typealias DeliverLogged = @Sendable (SharedUpdate?, _ own: Bool, _ position: String) async throws -> Void

    private enum Lifecycle { case idle, running, stopped }

    /// The settings the source was created with.
    public let configuration: RedisTickSourceConfiguration
    private let status: RedisSourceStatus
    private let channelReader: RedisChannelReader?
    private let controlReader: RedisChannelReader?
    private let streamReader: RedisStreamReader?
    private let logReader: RedisStreamReader?
    private let lifecycle = Mutex(Lifecycle.idle)
    private let logger: Logger

    /// Creates a stopped source. `resumeAfter` is the stream id to continue after (the last one
    /// journaled); nil reads only entries added from now on, `0-0` reads the stream from the start.
    /// `logResumeAfter` is the same for the shared log; `ownEntries` is what this node's
    /// `RedisBroadcaster` appended to it. `deliverShared` gets what arrives on the
    /// news, alerts, signals and k-lines channels, `deliverLogged` what the shared log holds (none
    /// are read unless configured).
    public init(
        configuration: RedisTickSourceConfiguration, resumeAfter: String? = nil, logResumeAfter: String? = nil,
        ownEntries: OwnLogEntries? = nil,
        logger: Logger = Logger(label: "brokerd.redis"), deliverShared: @escaping DeliverShared = { _ in },
        deliverLogged: @escaping DeliverLogged = { _, _, _ in }, deliver: @escaping Deliver
    ) throws(RedisError) {
        try configuration.validate()
        for (setting, id) in [("resumeAfter", resumeAfter), ("logResumeAfter", logResumeAfter)] {
            if let id, !RedisTickSourceConfiguration.isStreamID(id) {
                throw .invalidConfiguration(setting: setting, reason: "'\(id)' is not a stream id like 1700000000000-0")
            }
        }
        self.configuration = configuration
        self.logger = logger
        let subscribes = !configuration.dataChannels.isEmpty
        let controls = !configuration.controlChannels.isEmpty
        let status = RedisSourceStatus(
            channelConfigured: subscribes, streamConfigured: configuration.stream != nil, logConfigured: configuration.log != nil,
            controlConfigured: controls)
        self.status = status
        let delivery = TickBatchDelivery(
            deliver: deliver, deliverShared: deliverShared, deliverLogged: deliverLogged, status: status,
            maxTicksPerBatch: configuration.limits.maxTicksPerBatch, retryBackoff: configuration.backoff, logger: logger)
        channelReader = subscribes
            ? RedisChannelReader(configuration: configuration, role: .data, delivery: delivery, status: status, logger: logger) : nil
        controlReader = controls
            ? RedisChannelReader(configuration: configuration, role: .control, delivery: delivery, status: status, logger: logger) : nil
        let ticks = TickStreamConsumer(
            decoder: TickPayloadDecoder(limits: configuration.limits), delivery: delivery,
            maxTicksPerBatch: configuration.limits.maxTicksPerBatch)
        streamReader = configuration.stream.map {
            RedisStreamReader(
                configuration: configuration, stream: $0, resumeAfter: resumeAfter ?? "$", connection: .stream, consumer: ticks,
                status: status, logger: logger)
        }
        logReader = configuration.log.map {
            RedisStreamReader(
                configuration: configuration, stream: $0, resumeAfter: logResumeAfter ?? "$", connection: .log,
                consumer: SharedLogConsumer(
                    log: $0, node: configuration.node, ownEntries: ownEntries, secrets: configuration.secrets, delivery: delivery),
                status: status, logger: logger)
        }
    }

    /// State and counters, consistent with each other, for `/readyz` and stats.
    public var snapshot: RedisSourceSnapshot { status.snapshot }

    /// Starts the reader threads; later calls do nothing.
    public func start() {
        let shouldStart = lifecycle.withLock { lifecycle in
            guard lifecycle == .idle else { return false }
            lifecycle = .running
            return true
        }
        guard shouldStart else { return }
        logger.info(
            "reading ticks from Redis",
            metadata: [
                "url": "\(configuration.url)", "channels": "\(configuration.subscribedChannels.joined(separator: ","))",
                "stream": "\(configuration.stream ?? "-")", "log": "\(configuration.log ?? "-")",
            ])
        channelReader?.start()
        controlReader?.start()
        streamReader?.start()
        logReader?.start()
    }

    /// Interrupts the readers and returns once their threads have ended. A batch being delivered
    /// is finished first, so do not await `stop()` from inside the callback: it would wait for itself.
    public func stop() async {
        let wasRunning = lifecycle.withLock { lifecycle in
            defer { lifecycle = .stopped }
            return lifecycle == .running
        }
        guard wasRunning else { return }
        // Interrupt all first, then wait: none waits for another's delivery to end.
        channelReader?.requestStop()
        controlReader?.requestStop()
        streamReader?.requestStop()
        logReader?.requestStop()
        await channelReader?.waitUntilStopped()
        await controlReader?.waitUntilStopped()
        await streamReader?.waitUntilStopped()
        await logReader?.waitUntilStopped()
        logger.info("stopped reading ticks from Redis")
    }
}
