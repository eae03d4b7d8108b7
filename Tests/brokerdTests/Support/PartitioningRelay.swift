import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TCP relay on 127.0.0.1 in front of a server port that can cut the network without a close:
/// after `partition()` the connections relayed so far pass no byte in either direction and
/// neither side learns when the other closes, as across a dead NAT or a cable pulled out. New
/// connections are relayed again after `heal()`.
final class PartitioningRelay: Sendable {
    let port: Int
    private let listener: Int32
    private let target: Int
    private let state = Mutex(State())

    private struct State {
        var stopped = false
        /// Connections open and relayed (none partitioned): pairs of descriptors.
        var live: [Int32: Int32] = [:]
        /// Descriptors of partitioned connections, held open until `stop()`.
        var frozen: [Int32] = []
        var partitioned = false
    }

    init(to target: Int) throws {
        self.target = target
        (listener, port) = try LoopbackSocket.listen()
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    /// The relay's WebSocket URL, for a server whose endpoint is `path`.
    func webSocketURL(path: String = "/ws/stock/prices") -> String { "ws://127.0.0.1:\(port)\(path)" }

    /// Cuts every connection relayed now: nothing passes, closes included. New connections are
    /// accepted by the kernel and wait unrelayed until `heal()`.
    func partition() {
        state.withLock { state in
            state.partitioned = true
            for (client, server) in state.live { state.frozen += [client, server] }
            state.live = [:]
        }
    }

    /// Relays new connections again; the partitioned ones stay cut.
    func heal() {
        state.withLock { $0.partitioned = false }
    }

    /// Closes the listener and every connection, partitioned ones included. A relayed connection
    /// is shut down here and closed by its own thread, which may be reading it: closed here, its
    /// descriptor could be reused meanwhile by another test's socket.
    func stop() {
        let descriptors = state.withLock { state -> (live: [Int32], frozen: [Int32])? in
            guard !state.stopped else { return nil }
            state.stopped = true
            defer { state.frozen = [] }
            return (state.live.flatMap { [$0.key, $0.value] }, state.frozen)
        }
        guard let descriptors else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        for fd in descriptors.live { shutdown(fd, Int32(SHUT_RDWR)) }
        for fd in descriptors.frozen { close(fd) }
    }

    private func acceptLoop() {
        // The listener is closed here, once accepting has stopped, not in `stop()`.
        defer { close(listener) }
        while !state.withLock({ $0.stopped }) {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            // A connection made during a partition waits for the heal, as a SYN retried would.
            while state.withLock({ $0.partitioned && !$0.stopped }) { usleep(10_000) }
            guard let server = try? LoopbackSocket.connect(port: target) else {
                close(client)
                continue
            }
            let admitted = state.withLock { state in
                guard !state.stopped else { return false }
                state.live[client] = server
                return true
            }
            guard admitted else {
                close(client)
                close(server)
                return
            }
            Thread.detachNewThread { [self] in relay(client, server) }
        }
    }

    /// Copies bytes both ways until either side closes or `stop()` shuts them down (then closes
    /// both), or until the connection is partitioned (then leaves both to `stop()`).
    private func relay(_ client: Int32, _ server: Int32) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var descriptors = [pollfd(fd: client, events: Int16(POLLIN), revents: 0), pollfd(fd: server, events: Int16(POLLIN), revents: 0)]
        // Closes the pair unless it was partitioned meanwhile (then `stop()` closes it).
        func end() {
            guard state.withLock({ $0.live.removeValue(forKey: client) != nil }) else { return }
            close(client)
            close(server)
        }
        while state.withLock({ $0.live[client] == server }) {
            guard poll(&descriptors, 2, 50) >= 0 else { return end() }
            for (index, entry) in descriptors.enumerated() where entry.revents != 0 {
                // Checked again after every wait: bytes read once partitioned are dropped, not passed on.
                guard state.withLock({ $0.live[client] == server }) else { return }
                let from = entry.fd
                let to = index == 0 ? server : client
                let count = read(from, &buffer, buffer.count)
                if count <= 0 || !Self.writeAll(buffer[0..<count], to: to) { return end() }
            }
        }
    }

    private static func writeAll(_ bytes: ArraySlice<UInt8>, to fd: Int32) -> Bool {
        var remaining = bytes
        while !remaining.isEmpty {
            let written = remaining.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { return false }
            remaining = remaining.dropFirst(written)
        }
        return true
    }
}
