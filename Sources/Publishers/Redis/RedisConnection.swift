import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One blocking hiredis connection, used by exactly one thread at a time and never shared. Package
/// access: `brokerbench` publishes its load through it.
///
/// Not `Sendable` on purpose: the hiredis context has no internal locking. The only thing other
/// threads may touch is the file descriptor, and only through `ReaderThreadControl`, which makes
/// sure the descriptor is not closed while they do.
package final class RedisConnection {
    private var context: UnsafeMutablePointer<redisContext>?
    /// Where it is connected (`host:port`), for messages.
    package let endpoint: String

    /// Connects to `url`, authenticates, selects the database and names the connection (`name`, see
    /// `clientName`), each step bounded by `timeout`; later reads block until the caller sets a
    /// timeout of its own (`setReadTimeout`).
    package init(url: RedisURL, timeout: Duration, name: String? = nil) throws(RedisError) {
        endpoint = url.endpoint
        guard let context = redisConnectWithTimeout(url.host, Int32(url.port), Self.cTimeval(timeout)) else {
            throw .connectionFailed(endpoint: url.endpoint, reason: "hiredis could not allocate a context")
        }
        self.context = context
        if context.pointee.err != 0 {
            let reason = Self.errorText(context)
            close()
            throw .connectionFailed(endpoint: url.endpoint, reason: reason)
        }
        // hiredis bounds only the connect: a Redis that accepted and then answered nothing (frozen,
        // stopped, a proxy whose backend is gone) held AUTH or SELECT for good, and with it
        // every thread that connects (a shutdown waited for them for ever).
        _ = redisSetTimeout(context, Self.cTimeval(timeout))
        do {
            if let password = url.password {
                try expectOK(try command(url.user.map { ["AUTH", $0, password] } ?? ["AUTH", password]), "AUTH")
            }
            if url.database != 0 {
                try expectOK(try command(["SELECT", String(url.database)]), "SELECT")
            }
            if let name {
                // For an operator's CLIENT LIST: a Redis (or ACL) that refuses the name changes nothing.
                _ = try command(["CLIENT", "SETNAME", name])
            }
        } catch {
            close()
            throw .connectionFailed(endpoint: url.endpoint, reason: error.description)
        }
        setReadTimeout(nil)
    }

    deinit { close() }

    /// The name a broker's connection gives itself, `brokerd:<node>:<role>` (`brokerd:<role>`
    /// without a node id), so that `CLIENT LIST` says whose each connection is and what it does;
    /// what Redis refuses in a name (spaces, control characters, anything beyond ASCII) becomes `_`.
    package static func clientName(_ role: String, node: String?) -> String {
        let name = node.map { "brokerd:\($0.prefix(64)):\(role)" } ?? "brokerd:\(role)"
        var taken = String.UnicodeScalarView()
        for scalar in name.unicodeScalars { taken.append((33...126).contains(scalar.value) ? scalar : "_") }
        return String(taken)
    }

    /// The socket, for `shutdown(2)` from another thread; -1 once closed.
    var fileDescriptor: Int32 { context?.pointee.fd ?? -1 }

    /// Frees the context and closes the socket; later calls fail with `connectionLost`.
    func close() {
        if let context { redisFree(context) }
        context = nil
    }

    /// Bounds every later read and write, so a silently dead peer cannot block forever; nil blocks forever.
    package func setReadTimeout(_ timeout: Duration?) {
        guard let context else { return }
        _ = redisSetTimeout(context, Self.cTimeval(timeout ?? .zero))
    }

    /// Turns on TCP keep-alive, so a vanished peer is noticed even while nothing is published.
    func enableKeepAlive() {
        guard let context else { return }
        _ = redisEnableKeepAlive(context)
    }

    /// Sends one command and waits for its reply. An error reply is returned, not thrown; I/O failure throws.
    package func command(_ arguments: [String]) throws(RedisError) -> RedisReply {
        guard let context else { throw .connectionLost(reason: "the connection is closed") }
        let raw = Self.withArgv(arguments.map { Array($0.utf8) }) { argc, argv, lengths in
            redisCommandArgv(context, argc, argv, lengths)
        }
        return try take(raw)
    }

    /// Sends `commands` in one go and reads their replies in order (pipelining: one round trip for
    /// all of them). Arguments are bytes, so payloads are binary-safe. Error replies are returned;
    /// an I/O failure throws, and then it is unknown which of the commands Redis executed.
    package func pipeline(_ commands: [[[UInt8]]]) throws(RedisError) -> [RedisReply] {
        guard let context else { throw .connectionLost(reason: "the connection is closed") }
        for arguments in commands {
            // Appending only fills hiredis' output buffer; the first reply read writes it all out.
            let status = Self.withArgv(arguments) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            guard status == REDIS_OK else { throw .connectionLost(reason: Self.errorText(context)) }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands { replies.append(try nextReply()) }
        return replies
    }

    /// Calls `body` with C argument vectors over copies of `arguments`. hiredis copies the
    /// arguments into its output buffer before returning, so buffers that live for the duration
    /// of the call are enough; the lengths make it binary-safe.
    private static func withArgv<Result>(
        _ arguments: [[UInt8]],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int>?) -> Result
    ) -> Result {
        let lengths = arguments.map(\.count)
        let buffers = arguments.map { argument -> UnsafeMutableBufferPointer<CChar> in
            let buffer = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(argument.count, 1))
            UnsafeMutableRawBufferPointer(buffer).copyBytes(from: argument)
            return buffer
        }
        defer { buffers.forEach { $0.deallocate() } }
        var argv: [UnsafePointer<CChar>?] = buffers.map { UnsafePointer($0.baseAddress) }
        return lengths.withUnsafeBufferPointer { lengthsBuffer in
            argv.withUnsafeMutableBufferPointer { argvBuffer in
                body(Int32(arguments.count), argvBuffer.baseAddress, lengthsBuffer.baseAddress)
            }
        }
    }

    /// Waits for the next reply pushed by the server (pub/sub messages).
    func nextReply() throws(RedisError) -> RedisReply {
        guard let context else { throw .connectionLost(reason: "the connection is closed") }
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK else {
            if let raw { freeReplyObject(raw) }
            throw .connectionLost(reason: Self.errorText(context))
        }
        return try take(raw)
    }

    /// The next reply if one is already buffered from an earlier read, without touching the socket.
    func bufferedReply() throws(RedisError) -> RedisReply? {
        guard let context else { throw .connectionLost(reason: "the connection is closed") }
        var raw: UnsafeMutableRawPointer?
        guard redisGetReplyFromReader(context, &raw) == REDIS_OK else {
            if let raw { freeReplyObject(raw) }
            throw .connectionLost(reason: Self.errorText(context))
        }
        guard let raw else { return nil }
        return try take(raw)
    }

    /// The next reply pushed by the server, waiting at most `timeout` for it; nil when none came.
    /// Unlike a socket timeout, running out leaves the connection usable.
    func nextReply(within timeout: Duration) throws(RedisError) -> RedisReply? {
        if let reply = try bufferedReply() { return reply }
        guard let context else { throw .connectionLost(reason: "the connection is closed") }
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            var ready = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
            let polled = poll(&ready, 1, Int32(min(max(left / .milliseconds(1), 1), Double(Int32.max))))
            if polled < 0 {
                if errno == EINTR { continue }
                throw .connectionLost(reason: "poll failed: errno \(errno)")
            }
            if polled == 0 { return nil }
            // Readable, or hung up: reading tells which.
            guard redisBufferRead(context) == REDIS_OK else { throw .connectionLost(reason: Self.errorText(context)) }
            if let reply = try bufferedReply() { return reply }
        }
    }

    /// Sends a command without waiting for its reply: in pub/sub mode the reply comes among the
    /// pushed messages.
    func send(_ arguments: [String]) throws(RedisError) {
        guard let context else { throw .connectionLost(reason: "the connection is closed") }
        let status = Self.withArgv(arguments.map { Array($0.utf8) }) { argc, argv, lengths in
            redisAppendCommandArgv(context, argc, argv, lengths)
        }
        guard status == REDIS_OK else { throw .connectionLost(reason: Self.errorText(context)) }
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw .connectionLost(reason: Self.errorText(context)) }
        }
    }

    /// The next reply already buffered or already waiting on the socket, without blocking: reads
    /// the socket once more when it has data and nothing complete is buffered. Nil when none is there.
    func availableReply() throws(RedisError) -> RedisReply? {
        if let reply = try bufferedReply() { return reply }
        guard let context else { throw .connectionLost(reason: "the connection is closed") }
        var ready = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        guard poll(&ready, 1, 0) > 0, ready.revents & Int16(POLLIN) != 0 else { return nil }
        guard redisBufferRead(context) == REDIS_OK else { throw .connectionLost(reason: Self.errorText(context)) }
        return try bufferedReply()
    }

    private func take(_ raw: UnsafeMutableRawPointer?) throws(RedisError) -> RedisReply {
        guard let raw else {
            throw .connectionLost(reason: context.map(Self.errorText) ?? "the connection is closed")
        }
        defer { freeReplyObject(raw) }
        return Self.copy(raw.assumingMemoryBound(to: redisReply.self))
    }

    private func expectOK(_ reply: RedisReply, _ command: String) throws(RedisError) {
        switch reply {
        case .status: return
        case .error(let message): throw .commandFailed(command: command, message: message)
        default: throw .unexpectedReply(command: command, reply: reply.description)
        }
    }

    private static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let node = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = node.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: node.len))
        }
        switch node.type {
        case REDIS_REPLY_STRING: return .bulk(bytes())
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(Int64(node.integer))
        case REDIS_REPLY_ARRAY:
            guard let elements = node.element else { return .array([]) }
            return .array((0..<node.elements).map { index in elements[index].map(copy) ?? .null })
        default: return .null
        }
    }

    private static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        // `errstr` is imported as a 128-tuple of CChar; read it as bytes up to the terminator.
        let text = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        if !text.isEmpty { return text }
        return context.pointee.err == REDIS_ERR_EOF ? "server closed the connection" : "error \(context.pointee.err)"
    }

    private static func cTimeval(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        return timeval(tv_sec: .init(seconds), tv_usec: .init(attoseconds / 1_000_000_000_000))
    }
}
