import NIOCore

/// The broker under test: where it listens, and its pid when known (for RSS and CPU).
struct BrokerSession: Sendable {
    let host: String
    let port: Int
    let adminToken: String?
    let pid: Int32?
    /// Threads of the WebSocket clients.
    let clientThreads: Int
    /// Kernel policy of the client threads.
    let clientScheduling: ClientScheduling
    /// The HTTP feed's own thread, so pacing and POST timing do not wait behind client work.
    let feedEventLoop: any EventLoop
    /// The broker's journal file, when brokerbench started the broker and so knows it.
    var journalPath: String? = nil

    var webSocketURL: String { "ws://\(host):\(port)/ws/stock/prices" }

    var residentKilobytes: Int? { pid.flatMap(ProcessStats.residentKilobytes(pid:)) }
    var cpuSeconds: Double? { pid.flatMap(ProcessStats.cpuSeconds(pid:)) }

    /// Runs `body` with a new keep-alive HTTP connection to the broker.
    @discardableResult
    func withHTTP<Result: Sendable>(_ body: (inout HTTPConnection) async throws -> Result) async throws -> Result {
        try await HTTPConnection.withConnection(
            host: host, port: port, adminToken: adminToken, eventLoopGroup: feedEventLoop, body)
    }

    /// Asks `GET /readyz` until it answers 200 or `timeout` passes; `exited` reports an early death.
    func waitUntilReady(timeout: Duration, exited: () -> String?) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if exited() != nil { return false }
            let ready = (try? await withHTTP { try await $0.send(.GET, "/readyz").status == 200 }) ?? false
            if ready { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
