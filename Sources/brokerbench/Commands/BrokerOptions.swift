import ArgumentParser
import NIOCore
import NIOPosix

/// Which broker to measure: one already running, or one brokerbench starts (--spawn).
struct BrokerOptions: ParsableArguments {
    @Option(help: "Host of the broker.")
    var host = "127.0.0.1"

    @Option(help: "Port of a running broker (ignored with --spawn, which picks a free port).")
    var port = 8000

    @Option(help: "Admin token: sent as Authorization: Bearer on HTTP calls, and given to a spawned broker.")
    var adminToken: String?

    @Option(help: "Start this brokerd binary with a fresh journal on a free port and stop it at the end.")
    var spawn: String?

    @Option(help: "Pid of an already running broker, to report its RSS and CPU (implied by --spawn).")
    var brokerPid: Int32?

    @Option(
        parsing: .unconditionalSingleValue,
        help: "Extra argument for a spawned broker, repeatable (e.g. --broker-arg=--log-level=warning).")
    var brokerArg: [String] = []

    @Option(help: "Threads of brokerbench's WebSocket clients (the HTTP feed has one more of its own).")
    var threads = System.coreCount

    @Option(help: "Kernel policy of the client threads: batch (SCHED_BATCH: a client woken by a broker write does not preempt it) or normal.")
    var clientScheduling = ClientScheduling.batch

    @Flag(help: "Keep a spawned broker's scratch directory (journal and log).")
    var keepScratch = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        if spawn != nil && brokerPid != nil {
            throw ValidationError("--broker-pid is for a running broker; --spawn knows its own pid")
        }
    }

    /// Runs `body` against the broker, starting and stopping it when --spawn is given; a spawned
    /// broker gets `spawnArguments` before the --broker-arg ones.
    func withBroker(
        spawnArguments: [String] = [], _ body: (BrokerSession) async throws -> BenchReport
    ) async throws -> BenchReport {
        let limits = ProcessStats.raiseOpenFileLimit()
        progress("open files: soft limit \(limits.soft), hard \(limits.hard)")
        let feedEventLoopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { feedEventLoopGroup.shutdownGracefully { _ in } }
        let feedEventLoop = feedEventLoopGroup.next()

        guard let spawn else {
            let session = BrokerSession(
                host: host, port: port, adminToken: adminToken, pid: brokerPid, clientThreads: threads,
                clientScheduling: clientScheduling, feedEventLoop: feedEventLoop)
            do {
                let readiness = try await session.withHTTP { try await $0.send(.GET, "/readyz") }
                if !readiness.isSuccess { progress("warning: GET /readyz answered \(readiness.status)") }
            } catch {
                throw BrokerLaunchError.noBroker(host: host, port: port, underlying: "\(error)")
            }
            return try await body(session)
        }

        let process = try await BrokerProcess.launch(
            path: spawn, host: host, adminToken: adminToken, extraArguments: spawnArguments + brokerArg)
        progress("started \(spawn) (pid \(process.pid)) on port \(process.port); log \(process.logPath)")
        let session = BrokerSession(
            host: host, port: process.port, adminToken: adminToken, pid: process.pid, clientThreads: threads,
            clientScheduling: clientScheduling, feedEventLoop: feedEventLoop, journalPath: process.journalPath)
        var report: BenchReport
        do {
            guard try await session.waitUntilReady(timeout: .seconds(60), exited: process.exitStatus) else {
                let log = process.logTail()
                if let status = process.exitStatus() {
                    throw BrokerLaunchError.exitedEarly(status: status, log: log)
                }
                _ = await process.stop()
                throw BrokerLaunchError.notReady(seconds: 60, log: log)
            }
            report = try await body(session)
        } catch {
            let ending = await process.stop()
            progress("broker stopped: \(ending); log \(process.logPath)")
            throw error
        }
        let ending = await process.stop()
        report.row("broker shutdown", "SIGTERM → \(ending)")
        report.field("broker_shutdown", .string(ending))
        if !ending.hasPrefix("exit 0") { report.note("the broker did not exit 0 on SIGTERM; log: \(process.logPath)") }
        if keepScratch || !ending.hasPrefix("exit 0") {
            progress("scratch directory kept: \(process.directory)")
        } else {
            process.removeDirectory()
        }
        return report
    }
}
