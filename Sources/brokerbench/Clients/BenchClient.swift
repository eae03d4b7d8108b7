import HummingbirdWSClient
import Logging
import NIOCore

/// One WebSocket client of the benchmark: connects, subscribes to the strategy once, pings to stay
/// clear of the heartbeat timeout, and tallies every price entry it receives until cancelled.
struct BenchClient: Sendable {
    let url: String
    let strategy: BenchStrategy
    let sendTimes: SendTimeTable
    let configuration: WebSocketClientConfiguration
    let pingInterval: Duration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger

    /// Runs on `eventLoop` until the connection ends or the task is cancelled; cancellation is the
    /// normal end.
    func run(probe: ClientProbe, recorder: LatencyRecorder, settled: SettleSignal, on eventLoop: any EventLoop) async {
        do {
            let closeFrame = try await WebSocketClient.connect(
                url: url, configuration: configuration, eventLoopGroup: eventLoop, logger: logger
            ) { inbound, outbound, _ in
                probe.markConnected()
                try await outbound.write(.text(strategy.subscribeMessage))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await keepAlive(outbound) }
                    try await receive(inbound, probe: probe, recorder: recorder, settled: settled)
                    group.cancelAll()
                }
            }
            if !Task.isCancelled {
                let reason = closeFrame.map { "closed by broker: \($0.closeCode) \($0.reason ?? "")" }
                probe.markEnded(reason: reason ?? "closed by broker without a close frame")
            }
        } catch {
            if !Task.isCancelled { probe.markEnded(reason: "\(error)") }
        }
        settled.signal()
    }

    private func keepAlive(_ outbound: WebSocketOutboundWriter) async {
        // Spread the pings of many clients over the interval.
        var wait = pingInterval * Double.random(in: 0.5..<1.0)
        while !Task.isCancelled {
            try? await Task.sleep(for: wait)
            if Task.isCancelled { return }
            try? await outbound.write(.text(#"{"type":"ping"}"#))
            wait = pingInterval
        }
    }

    private func receive(
        _ inbound: WebSocketInboundStream, probe: ClientProbe, recorder: LatencyRecorder, settled: SettleSignal
    ) async throws {
        var partial: ByteBuffer?
        var entries: [ScannedEntry] = []
        var ids: [UInt64] = []
        var sentAt: [UInt64] = []
        var latencies: [UInt64] = []
        entries.reserveCapacity(strategy.size)
        latencies.reserveCapacity(strategy.size)
        ids.reserveCapacity(strategy.size)
        sentAt.reserveCapacity(strategy.size)

        for try await frame in inbound {
            let message: ByteBuffer
            switch frame.opcode {
            case .text, .binary:
                guard frame.fin else {
                    partial = frame.data
                    continue
                }
                message = frame.data
            case .continuation:
                guard var buffer = partial else { continue }
                var data = frame.data
                buffer.writeBuffer(&data)
                guard frame.fin else {
                    partial = buffer
                    continue
                }
                partial = nil
                message = buffer
            }
            let receivedAt = MonotonicClock.nanoseconds()
            let kind = message.withUnsafeReadableBytes { ServerFrameScanner.scan($0, entries: &entries) }
            switch kind {
            case .priceUpdate:
                ids.removeAll(keepingCapacity: true)
                for entry in entries { ids.append(entry.tickID) }
                sendTimes.lookUp(ids, into: &sentAt)
                latencies.removeAll(keepingCapacity: true)
                probe.record(entries, sentAt: sentAt, receivedAt: receivedAt, strategy: strategy, latencies: &latencies)
                recorder.record(latencies, receivedAt: receivedAt)
            case .subscribed:
                probe.markSubscribed()
                settled.signal()
            case .error:
                probe.recordError(String(buffer: message))
                // An error before `subscribed` means the subscription was refused.
                if probe.status != .subscribed { settled.signal() }
            case .connected, .pong, .other:
                break
            }
        }
    }
}
