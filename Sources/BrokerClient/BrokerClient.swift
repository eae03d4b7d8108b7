import Foundation
import HTTPTypes
import HummingbirdWSClient
import HummingbirdWSCompression
import Logging
import NIOWebSocket
import Synchronization

/// A client of the broker's WebSocket protocol that stays connected: it subscribes, pings,
/// notices a dead connection, reconnects with backoff and resumes its session, so a reconnection
/// loses no bar, news item or alert.
///
/// ```swift
/// let client = BrokerClient(configuration: .init(url: "ws://127.0.0.1:8000/ws/stock/prices",
///                                                subscriptions: [.strategy("volume_wave")]))
/// Task { try await client.run() }
/// for await message in client.messages { … }
/// ```
public final class BrokerClient: Sendable {
    /// The configuration the client was made with.
    public let configuration: BrokerClientConfiguration
    /// What the broker sends, decoded, in order, across reconnections; ends when the client stops.
    /// `connected` is reported as a state and `pong` is kept by the heartbeat. One consumer only.
    /// Holds at most `configuration.messageBufferCapacity` messages: see `Messages`.
    public let messages: Messages

    private let messageBuffer: MessageBuffer<BrokerMessage>
    private let shared: Mutex<Shared>
    private let logger: Logger
    /// Waits out a backoff delay; tests replace it to hold a client between attempts.
    private let pause: @Sendable (Duration) async throws -> Void

    private struct Shared {
        var machine: SessionMachine
        var state: ConnectionState = .idle
        var observers: [UInt64: AsyncStream<ConnectionState>.Continuation] = [:]
        var nextObserver: UInt64 = 0
        /// The current attempt; messages from an abandoned one are ignored.
        var attempt: LiveConnection?
        var loop: Task<Void, any Error>?
        var started = false
        var stopRequested = false
        var finished = false

        mutating func report(_ newState: ConnectionState) {
            state = newState
            for observer in observers.values { observer.yield(newState) }
        }
    }

    /// A client; nothing happens until `run()`.
    public convenience init(configuration: BrokerClientConfiguration, logger: Logger = Logger(label: "BrokerClient")) {
        self.init(configuration: configuration, logger: logger, pause: { try await Task.sleep(for: $0) })
    }

    init(
        configuration: BrokerClientConfiguration, logger: Logger = Logger(label: "BrokerClient"),
        pause: @escaping @Sendable (Duration) async throws -> Void
    ) {
        self.configuration = configuration
        self.logger = logger
        self.pause = pause
        messageBuffer = MessageBuffer(capacity: configuration.messageBufferCapacity)
        messages = Messages(buffer: messageBuffer)
        let pacer = SubscriptionPacer(
            window: configuration.subscriptionWindow, retryDelay: configuration.rateLimitRetryDelay,
            batchLimit: min(configuration.subscriptionBatch, SubscriptionPacer.brokerBatchLimit))
        shared = Mutex(Shared(machine: SessionMachine(
            subscriptions: configuration.subscriptions, schedule: configuration.reconnect, pacer: pacer)))
    }

    // MARK: Observing

    /// The current connection state.
    public var state: ConnectionState { shared.withLock { $0.state } }

    /// The current state, then every change, until the client stops. Any number of observers.
    public func stateUpdates() -> AsyncStream<ConnectionState> {
        let (stream, continuation) = AsyncStream<ConnectionState>.makeStream()
        let id: UInt64? = shared.withLock { shared in
            continuation.yield(shared.state)
            guard !shared.finished else { return nil }
            let id = shared.nextObserver
            shared.nextObserver += 1
            shared.observers[id] = continuation
            return id
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.shared.withLock { $0.observers.removeValue(forKey: id) }
        }
        return stream
    }

    // MARK: Requests

    /// Subscribes now if a session is open, and on every session opened from now on.
    public func subscribe(_ subscription: Subscription) {
        shared.withLock { shared in
            for command in shared.machine.subscribe(subscription) { shared.attempt?.send(command) }
        }
    }

    /// Unsubscribes now if a session is open, and keeps it out of every session opened from now on.
    public func unsubscribe(_ subscription: Subscription) {
        shared.withLock { shared in
            for command in shared.machine.unsubscribe(subscription) { shared.attempt?.send(command) }
        }
    }

    /// Sets an alert rule for the user; the broker answers with `alertSet` (or an `error`).
    public func setAlert(code: String, condition: AlertCondition, threshold: Double) throws(BrokerClientError) {
        try sendNow(.setAlert(code: code, condition: condition, threshold: threshold))
    }

    /// Removes one of the user's alert rules; the broker answers with `alertRemoved` (or an `error`).
    public func removeAlert(ruleID: String) throws(BrokerClientError) {
        try sendNow(.removeAlert(ruleID: ruleID))
    }

    /// Asks for the user's alert rules; the broker answers with `alertRules`.
    public func listAlerts() throws(BrokerClientError) {
        try sendNow(.listAlerts)
    }

    private func sendNow(_ command: ClientCommand) throws(BrokerClientError) {
        let sent = shared.withLock { shared -> Bool in
            guard shared.machine.isOpen, let attempt = shared.attempt else { return false }
            attempt.send(.untracked(command))
            return true
        }
        guard sent else { throw .notConnected }
    }

    // MARK: Running

    /// Connects and keeps the session alive until `stop()`, cancellation, or until the reconnect
    /// schedule is used up (then it throws `BrokerClientError.gaveUp`). Call it once.
    public func run() async throws {
        let loop: Task<Void, any Error> = try shared.withLock { shared throws(BrokerClientError) in
            guard !shared.started else { throw .alreadyRunning }
            shared.started = true
            let loop = Task { try await self.reconnectLoop() }
            shared.loop = loop
            if shared.stopRequested { loop.cancel() }
            return loop
        }
        try await withTaskCancellationHandler {
            try await loop.value
        } onCancel: {
            loop.cancel()
        }
    }

    /// Closes the connection and ends `run()` and `messages`.
    public func stop() {
        let loop = shared.withLock { shared in
            shared.stopRequested = true
            return shared.loop
        }
        loop?.cancel()
    }

    private func reconnectLoop() async throws {
        defer { finish() }
        var attempt = 0
        // When a frame last went out on any connection of the session.
        var lastSentAt: ContinuousClock.Instant?
        while !Task.isCancelled {
            shared.withLock { $0.report(.connecting(attempt: attempt)) }
            let connection = LiveConnection(pingInterval: configuration.pingInterval, pongTimeout: configuration.pongTimeout)
            let loss: ConnectionLoss
            do {
                var token = configuration.token
                if let provider = configuration.tokenProvider {
                    token = try await TokenRequest.token(from: provider, within: configuration.connectTimeout)
                }
                let queryToken = configuration.tokenPlacement == .queryParameter ? token : nil
                var target = shared.withLock { $0.machine.connect(queryToken: queryToken) }
                // With the client token, out of the URL where it can: proxies log URLs, not headers.
                target.resumeTokenInQuery = configuration.tokenPlacement == .queryParameter
                let headerToken = configuration.tokenPlacement == .authorizationHeader ? token : nil
                let refreshing = configuration.tokenProvider == nil ? nil : token
                guard let ended = await connect(
                    connection, to: target.url(base: configuration.url), headerToken: headerToken,
                    resumeToken: target.resumeTokenHeaderValue, refreshing: refreshing)
                else { return }
                loss = ended
            } catch {
                guard !Task.isCancelled else { return }
                // A failed attempt, backed off as any: the provider may work at the next one.
                loss = .connectFailed("the token provider failed: \(error)")
            }
            if let sent = connection.lastSentAt { lastSentAt = sent }
            guard !Task.isCancelled else { return }
            // The broker refused the token (1008 naming it): the same token again cannot help.
            if configuration.tokenProvider == nil, case .closedByBroker(1008, let reason?) = loss, reason.contains("token") {
                logger.error("the broker refused the token; not retrying with the same one", metadata: ["after": "\(loss)"])
                shared.withLock { $0.report(.failed(loss)) }
                throw BrokerClientError.gaveUp(after: loss)
            }
            let retry = shared.withLock { $0.machine.connectionLost(random: Double.random(in: 0...1)) }
            switch retry {
            case .giveUp:
                logger.error("giving up reconnecting", metadata: ["after": "\(loss)"])
                shared.withLock { $0.report(.failed(loss)) }
                throw BrokerClientError.gaveUp(after: loss)
            case .reconnect(let next, let planned):
                let delay = SessionMachine.resumeDelay(
                    planned: planned, after: loss, sinceLastSent: lastSentAt.map { ContinuousClock.now - $0 })
                logger.info("connection lost; reconnecting", metadata: ["after": "\(loss)", "attempt": .stringConvertible(next), "delay": "\(delay)"])
                shared.withLock { $0.report(.backingOff(attempt: next, delay: delay, after: loss)) }
                do { try await pause(delay) } catch { return }
                attempt = next
            }
        }
    }

    private func finish() {
        let observers = shared.withLock { shared in
            shared.finished = true
            if case .failed = shared.state {} else { shared.report(.stopped) }
            defer { shared.observers = [:] }
            return Array(shared.observers.values)
        }
        // Outside the lock: finishing runs the observers' termination handlers, which take it.
        for observer in observers { observer.finish() }
        messageBuffer.finish()
    }

    /// Runs one connection until it ends; nil when the client was stopped meanwhile. `refreshing`:
    /// the token it opens with, replaced on the connection before it expires; `resumeToken`: the
    /// `Brokerd-Resume-Token` header's value.
    private func connect(
        _ connection: LiveConnection, to url: String, headerToken: String?, resumeToken: String?, refreshing: String?
    ) async -> ConnectionLoss? {
        shared.withLock { $0.attempt = connection }
        var socketConfiguration = WebSocketClientConfiguration(
            maxFrameSize: configuration.maximumMessageSize, closeTimeout: configuration.closeTimeout)
        if let headerToken {
            socketConfiguration.additionalHeaders[.authorization] = "Bearer \(headerToken)"
        }
        if let resumeToken, let name = HTTPField.Name(ConnectTarget.resumeTokenHeader) {
            socketConfiguration.additionalHeaders[name] = resumeToken
        }
        if configuration.compression {
            socketConfiguration.extensions = [
                WebSocketExtensionFactory.perMessageDeflate(maxDecompressedFrameSize: configuration.maximumMessageSize).build()
            ]
        }
        let logger = logger
        // Unstructured, and not awaited once the attempt is over: an upgrade the broker never
        // answers cannot be cancelled, so a stalled attempt is abandoned rather than waited for.
        let socket = Task {
            do {
                let close = try await WebSocketClient.connect(url: url, configuration: socketConfiguration, logger: logger) {
                    inbound, outbound, _ in
                    try await self.serve(connection, inbound: inbound, outbound: outbound, refreshing: refreshing)
                }
                if let close {
                    connection.reportEnded(.closedByBroker(code: Int(UInt16(webSocketErrorCode: close.closeCode)), reason: close.reason))
                } else {
                    connection.reportEnded(.dropped("the connection closed without a close frame"))
                }
            } catch {
                connection.reportEnded(connection.isOpened ? .dropped("\(error)") : .connectFailed("\(error)"))
            }
        }
        let timeout = configuration.connectTimeout
        let timer = Task {
            try await Task.sleep(for: timeout)
            connection.reportConnectTimedOut()
        }
        defer {
            socket.cancel()
            timer.cancel()
            connection.close()
            shared.withLock { if $0.attempt === connection { $0.attempt = nil } }
        }
        for await event in connection.events {
            switch event {
            case .opened: timer.cancel()
            case .ended(let loss): return loss
            }
        }
        return nil
    }

    /// Reads, writes and pings on an upgraded connection until one of them ends.
    private func serve(
        _ connection: LiveConnection, inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, refreshing token: String?
    ) async throws {
        let maximumMessageSize = configuration.maximumMessageSize
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await message in inbound.messages(maxSize: maximumMessageSize) {
                    guard case .text(let text) = message, let forward = self.receive(text, on: connection) else { continue }
                    // A full buffer stops the reading (see `Messages`); meanwhile unread pongs
                    // do not make the connection dead.
                    connection.heartbeat.withLock { $0.readerWaits() }
                    await self.messageBuffer.push(forward)
                    connection.heartbeat.withLock { $0.readerResumed() }
                }
            }
            group.addTask {
                for await command in connection.commands {
                    try await outbound.write(.text(command.json))
                    connection.noteSent()
                }
            }
            group.addTask {
                try await Self.keepAlive(connection)
            }
            if let token, let provider = configuration.tokenProvider, let ahead = configuration.tokenRefreshAhead {
                group.addTask {
                    try await self.keepTokenFresh(connection, token: token, provider: provider, ahead: ahead)
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    private static func keepAlive(_ connection: LiveConnection) async throws {
        while true {
            switch connection.heartbeat.withLock({ $0.poll(now: .now) }) {
            case .ping:
                connection.send(.untracked(.ping))
            case .wait(let deadline):
                try await Task.sleep(until: deadline, clock: .continuous)
            case .dead:
                connection.reportEnded(.heartbeatTimedOut)
                return
            }
        }
    }

    /// Sends the broker the provider's next token over `connection` (`refresh`) ahead of each
    /// token's expiry, until the connection ends; returns only by throwing (cancelled). A provider
    /// that fails or gives no later token is asked again every 5 s until the token expires.
    private func keepTokenFresh(
        _ connection: LiveConnection, token: String, provider: @escaping @Sendable () async throws -> String, ahead: Duration
    ) async throws {
        var current = TokenExpiry.of(token).map { (expiry: $0, takenAt: Date()) }
        while let (expiry, takenAt) = current, Date() < expiry {
            let moment = TokenExpiry.refreshMoment(expiry: expiry, takenAt: takenAt, ahead: ahead)
            try await Task.sleep(for: .seconds(max(0, moment.timeIntervalSinceNow)))
            let fresh: String
            do {
                fresh = try await TokenRequest.token(from: provider, within: configuration.connectTimeout)
            } catch {
                try Task.checkCancellation()
                logger.warning("the token provider failed; asking again", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .seconds(5))
                continue
            }
            guard let next = TokenExpiry.of(fresh), next > expiry else {
                logger.warning("the token provider gave no token expiring later; asking again")
                try await Task.sleep(for: .seconds(5))
                continue
            }
            connection.send(.untracked(.refresh(token: fresh)))
            current = (next, Date())
        }
        // Nothing to refresh (no exp, or it passed): the broker ends the connection at exp.
        while true { try await Task.sleep(for: .seconds(3_600)) }
    }

    /// Handles a message of `connection`; returns it when it is for the user's `messages`.
    private func receive(_ text: String, on connection: LiveConnection) -> BrokerMessage? {
        connection.heartbeat.withLock { $0.received() }
        let message: BrokerMessage
        let requestID: UInt64?
        do {
            (message, requestID) = try BrokerMessage.decodeReply(text)
        } catch {
            logger.warning("skipped a message", metadata: ["error": "\(error)"])
            return nil
        }
        // The broker took a refreshed token: nothing for the user.
        if case .other(type: "refreshed", _, _) = message {
            logger.debug("token refreshed on the connection")
            return nil
        }
        let reaction = shared.withLock { shared -> SessionMachine.Reaction? in
            guard shared.attempt === connection else { return nil }
            let reaction = shared.machine.received(message, requestID: requestID)
            // Sent under the lock, so a concurrent subscribe() is queued before or after them, never between.
            for command in reaction.commands { connection.send(command) }
            if let state = reaction.state { shared.report(state) }
            return reaction
        }
        guard let reaction else { return nil }
        if let delay = reaction.retryAfter { retryRefused(after: delay, on: connection) }
        if case .connected(let connected) = message {
            logger.info(connected.resumed ? "session resumed" : "session opened", metadata: ["client": "\(connected.clientID)"])
            connection.reportOpened()
        }
        return reaction.forward ? message : nil
    }

    /// Asks again for what the broker refused for its rate limit, once `delay` has passed, if
    /// `connection` is still the current one.
    private func retryRefused(after delay: Duration, on connection: LiveConnection) {
        Task {
            try await Task.sleep(for: delay)
            shared.withLock { shared in
                guard shared.attempt === connection else { return }
                for command in shared.machine.retryRefused() { connection.send(command) }
            }
        }
    }
}

extension BrokerClient {
    /// The messages for the user, oldest first; one consumer only.
    ///
    /// At most `messageBufferCapacity` messages wait here. When that many are unread, the client
    /// stops reading its socket until the consumer takes one: the broker then merges the price
    /// updates it holds for this client (latest per code), and closes the connection as a slow
    /// consumer if it stays behind; the client resumes the session once the consumer reads again,
    /// and the broker sends what was missed (latest prices, every bar close, news item and alert).
    /// The heartbeat does not count the time the client is not reading. No message the client has
    /// read is dropped.
    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = BrokerMessage
        public typealias Failure = Never

        let buffer: MessageBuffer<BrokerMessage>

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(buffer: buffer)
        }

        public struct AsyncIterator: AsyncIteratorProtocol {
            let buffer: MessageBuffer<BrokerMessage>

            /// The next message; nil once the client stopped and every message was read, or when
            /// the waiting task is cancelled.
            public mutating func next() async -> BrokerMessage? {
                await buffer.next()
            }
        }
    }
}
