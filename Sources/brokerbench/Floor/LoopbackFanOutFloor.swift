import CEpoll
import Glibc
import Foundation
import Histogram
import Synchronization

/// The machine's floor for a fan-out round over loopback TCP: what `brokerbench latency` would
/// measure if the broker and the load tool did nothing but the system calls.
///
/// `clients` loopback connections are made inside this process. `writers` threads (the broker's
/// event loops) each own an equal share of the accepted sockets; every `interval` a round is due,
/// and each writer writes one `messageSize`-byte message to each of its sockets, one `write` per
/// socket, as the broker's fan-out does. `readers` threads (the load tool's event loops) wait in
/// `epoll_wait` on the client sockets, `read` whatever is there and record, per message, the time
/// from when its round was due to when it was read. A writer that is still busy when the next round
/// is due merges the rounds it missed into one (the broker merges price rounds the same way) and
/// stamps the message with the oldest due time, so a merged message counts its oldest tick.
///
/// No JSON, no journal, no HTTP, no NIO: the gap between this and `brokerbench latency` is the
/// cost of everything the broker and the tool do besides moving bytes.
final class LoopbackFanOutFloor: Sendable {
    struct Configuration: Sendable {
        var clients = 1_000
        var writers = 2
        var readers = 2
        /// Kernel policy of the reading threads, as `brokerbench latency --client-scheduling`.
        var readerScheduling = ClientScheduling.batch
        var messageSize = 1_200
        var interval: Duration = .milliseconds(10)
        var warmup: Duration = .seconds(3)
        var duration: Duration = .seconds(20)
    }

    struct Result: Sendable {
        let latencies: Histogram<UInt64>
        let messages: UInt64
        let rounds: UInt64
        let mergedRounds: UInt64
        let wouldBlock: UInt64
        let seconds: Double
        let cpuCores: Double
    }

    let configuration: Configuration
    /// Monotonic nanoseconds before which reads are warm-up and not recorded; 0 until set.
    private let measureFrom = Atomic<UInt64>(0)
    private let stop = Atomic<Bool>(false)

    init(configuration: Configuration) {
        self.configuration = configuration
    }

    func run() throws -> Result {
        let (serverSockets, clientSockets) = try Self.connectPairs(configuration.clients)
        defer { for fd in serverSockets + clientSockets { close(fd) } }

        let start = MonotonicClock.nanoseconds()
        let interval = UInt64(configuration.interval.seconds * 1e9)
        let firstDue = start + interval
        measureFrom.store(start + UInt64(configuration.warmup.seconds * 1e9), ordering: .relaxed)
        let end = measureFrom.load(ordering: .relaxed) + UInt64(configuration.duration.seconds * 1e9)

        let readerShares = Self.split(clientSockets, into: configuration.readers)
        let writerShares = Self.split(serverSockets, into: configuration.writers)
        let readerResults = Mutex<[Swift.Result<ReaderTally, SocketError>]>([])
        let writerResults = Mutex<[WriterTally]>([])
        let done = DispatchGroup()
        for share in readerShares {
            done.enter()
            Thread.detachNewThread { [self] in
                configuration.readerScheduling.applyOrWarn()
                let tally = Swift.Result { () throws(SocketError) in try read(share) }
                readerResults.withLock { $0.append(tally) }
                done.leave()
            }
        }
        let cpuBefore = ProcessStats.ownCPUSeconds()
        for share in writerShares {
            done.enter()
            Thread.detachNewThread { [self] in
                let tally = write(share, firstDue: firstDue, interval: interval, until: end)
                writerResults.withLock { $0.append(tally) }
                done.leave()
            }
        }
        // Writers stop at `end`; give readers a moment to take the last round, then stop them.
        while MonotonicClock.nanoseconds() < end { usleep(50_000) }
        usleep(200_000)
        stop.store(true, ordering: .relaxed)
        done.wait()
        let cpuAfter = ProcessStats.ownCPUSeconds()

        let readers = try readerResults.withLock { $0 }.map { try $0.get() }
        let writers = writerResults.withLock { $0 }
        var histogram = LatencyRecorder.emptyHistogram()
        for reader in readers { histogram.add(reader.latencies) }
        let seconds = configuration.duration.seconds
        let cpu = (cpuAfter.user + cpuAfter.system) - (cpuBefore.user + cpuBefore.system)
        return Result(
            latencies: histogram, messages: readers.reduce(0) { $0 + $1.messages },
            rounds: writers.map(\.rounds).max() ?? 0, mergedRounds: writers.reduce(0) { $0 + $1.merged },
            wouldBlock: writers.reduce(0) { $0 + $1.wouldBlock }, seconds: seconds,
            cpuCores: cpu / (seconds + configuration.warmup.seconds + 0.2))
    }

    // MARK: Writers

    private struct WriterTally {
        var rounds: UInt64 = 0
        var merged: UInt64 = 0
        var wouldBlock: UInt64 = 0
    }

    private func write(_ sockets: [Int32], firstDue: UInt64, interval: UInt64, until end: UInt64) -> WriterTally {
        var tally = WriterTally()
        var message = [UInt8](repeating: UInt8(ascii: "x"), count: configuration.messageSize)
        var due = firstDue
        while due < end {
            Self.sleep(until: due)
            // The rounds that fell due while the last one was written go out as one, stamped with
            // the oldest.
            let now = MonotonicClock.nanoseconds()
            let missed = now > due ? (now - due) / interval : 0
            tally.merged += missed
            tally.rounds += 1
            withUnsafeBytes(of: due.littleEndian) { stamp in
                for index in 0..<8 { message[index] = stamp[index] }
            }
            message.withUnsafeBytes { bytes in
                for fd in sockets where Glibc.write(fd, bytes.baseAddress, bytes.count) < 0 {
                    tally.wouldBlock += 1
                }
            }
            due += (missed + 1) * interval
        }
        return tally
    }

    private static func sleep(until deadline: UInt64) {
        var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &time, nil) == EINTR {}
    }

    // MARK: Readers

    private struct ReaderTally {
        var latencies = LatencyRecorder.emptyHistogram()
        var messages: UInt64 = 0
    }

    private func read(_ sockets: [Int32]) throws(SocketError) -> ReaderTally {
        var tally = ReaderTally()
        let size = configuration.messageSize
        let poll = try Epoll(capacity: 64)
        // Bytes of a message started in an earlier read, per socket.
        var partial: [Int32: [UInt8]] = [:]
        for fd in sockets { try poll.add(fd, interest: Epoll.readable, token: UInt64(fd)) }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while !stop.load(ordering: .relaxed) {
            poll.wait(milliseconds: 100) { token, _ in
                let fd = Int32(token)
                let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                guard count > 0 else { return }
                let readAt = MonotonicClock.nanoseconds()
                var bytes = partial.removeValue(forKey: fd) ?? []
                bytes.append(contentsOf: buffer[0..<count])
                var offset = 0
                while bytes.count - offset >= size {
                    var due: UInt64 = 0
                    withUnsafeMutableBytes(of: &due) { stamp in
                        for byte in 0..<8 { stamp[byte] = bytes[offset + byte] }
                    }
                    due = UInt64(littleEndian: due)
                    if due >= measureFrom.load(ordering: .relaxed) {
                        _ = tally.latencies.record((readAt &- due) / 1_000)
                        tally.messages += 1
                    }
                    offset += size
                }
                if offset < bytes.count { partial[fd] = Array(bytes[offset...]) }
            }
        }
        return tally
    }

    // MARK: Sockets

    /// `count` connected loopback TCP pairs (server side, client side), non-blocking, no Nagle.
    private static func connectPairs(_ count: Int) throws -> (server: [Int32], client: [Int32]) {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw SocketError(call: "socket", code: errno) }
        defer { close(listener) }
        guard var address = FreePort.bindLoopback(listener) else { throw SocketError(call: "bind", code: errno) }
        guard listen(listener, 4_096) == 0 else { throw SocketError(call: "listen", code: errno) }
        let length = socklen_t(MemoryLayout<sockaddr_in>.size)
        var servers: [Int32] = []
        var clients: [Int32] = []
        for _ in 0..<count {
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard client >= 0 else { throw SocketError(call: "socket", code: errno) }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) }
            }
            guard connected == 0 else { throw SocketError(call: "connect", code: errno) }
            let server = accept(listener, nil, nil)
            guard server >= 0 else { throw SocketError(call: "accept", code: errno) }
            for fd in [client, server] {
                var one: Int32 = 1
                setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            }
            servers.append(server)
            clients.append(client)
        }
        return (servers, clients)
    }

    /// `items` dealt round-robin into `parts` shares.
    private static func split(_ items: [Int32], into parts: Int) -> [[Int32]] {
        var shares = [[Int32]](repeating: [], count: max(1, parts))
        for (index, item) in items.enumerated() { shares[index % shares.count].append(item) }
        return shares
    }
}
