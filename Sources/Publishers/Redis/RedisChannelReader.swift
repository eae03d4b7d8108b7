import Broker
import Journal
import Logging

/// SUBSCRIBEs to one pub/sub channel on a thread of its own and hands every message to the broker,
/// reconnecting with backoff until stopped.
final class RedisChannelReader: Sendable {
    private let url: RedisURL
    private let channel: String
    private let connectTimeout: Duration
    private let backoff: ReconnectBackoff
    private let maxTicksPerBatch: Int
    private let decoder: TickPayloadDecoder
    private let delivery: TickBatchDelivery
    private let status: RedisSourceStatus
    private let logger: Logger
    private let control = ReaderThreadControl()

    init(
        configuration: RedisTickSourceConfiguration, channel: String, delivery: TickBatchDelivery,
        status: RedisSourceStatus, logger: Logger
    ) {
        url = configuration.url
        self.channel = channel
        connectTimeout = configuration.connectTimeout
        backoff = configuration.backoff
        maxTicksPerBatch = configuration.limits.maxTicksPerBatch
        decoder = TickPayloadDecoder(limits: configuration.limits)
        self.delivery = delivery
        self.status = status
        self.logger = logger
    }

    /// Starts the reader thread.
    func start() {
        status.set(.channel, .connecting)
        ReaderThreadControl.spawn(name: "redis-sub:\(channel)") { [self] in run() }
    }

    /// Interrupts a blocked read or a backoff sleep and tells the thread to end.
    func requestStop() { control.requestStop() }

    /// Returns once the thread has ended.
    func waitUntilStopped() async { await control.waitUntilFinished() }

    private func run() {
        var backoff = self.backoff
        var hasConnected = false
        var failures = 0
        defer {
            status.set(.channel, .stopped)
            control.finish()
        }
        while !control.isStopping {
            status.set(.channel, .connecting)
            do {
                try session {
                    status.connected(.channel, afterFailure: hasConnected)
                    if hasConnected || failures > 0 { logger.info("Redis subscription restored", metadata: ["channel": "\(channel)"]) }
                    hasConnected = true
                    failures = 0
                    backoff.reset()
                }
            } catch {
                if control.isStopping { break }
                failures += 1
                status.update { $0.lastError = error.description }
                status.set(.channel, .backingOff)
                let delay = backoff.nextDelay()
                // The first failure of an outage is news; the retries that follow are not.
                if failures == 1 {
                    logger.warning("Redis subscription failed; reconnecting with backoff", metadata: ["channel": "\(channel)", "error": "\(error)"])
                } else {
                    logger.debug("Redis reconnect failed", metadata: ["attempt": "\(failures)", "error": "\(error)", "retryIn": "\(delay)"])
                }
                if !control.sleep(for: delay) { break }
            }
        }
    }

    /// One connection's life: connect, subscribe, read until the connection fails or is shut down.
    private func session(onSubscribed: () -> Void) throws(RedisError) {
        let connection = try RedisConnection(url: url, timeout: connectTimeout)
        defer {
            control.detach()
            connection.close()
        }
        guard control.attach(connection.fileDescriptor) else { return }
        connection.enableKeepAlive()
        let reply = try connection.command(["SUBSCRIBE", channel])
        guard case .array(let items) = reply, items.first?.text == "subscribe" else {
            if case .error(let message) = reply { throw .commandFailed(command: "SUBSCRIBE \(channel)", message: message) }
            throw .unexpectedReply(command: "SUBSCRIBE \(channel)", reply: reply.description)
        }
        onSubscribed()
        while true {
            // Block for one message, then take whatever else the same read already buffered, so a
            // burst becomes one batch (one hand-over to the broker) instead of one per message.
            var ticks: [PriceTick] = []
            var next: RedisReply? = try connection.nextReply()
            while let push = next {
                ticks += decode(push)
                if ticks.count >= maxTicksPerBatch { break }
                next = try connection.bufferedReply()
            }
            if !ticks.isEmpty { delivery.hand(ticks, streamID: nil) }
            if control.isStopping { return }
        }
    }

    /// The ticks of one pushed message; anything but `["message", channel, payload]` has none.
    private func decode(_ push: RedisReply) -> [PriceTick] {
        guard case .array(let parts) = push, parts.count == 3, parts[0].text == "message", case .bulk(let payload) = parts[2]
        else { return [] }
        status.update { $0.messages += 1 }
        let outcome = decoder.decode(json: payload, timestamp: WallClock.microsecondsNow())
        delivery.reportMalformed(outcome.problems)
        return outcome.ticks
    }
}
