import CHiredis

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One blocking hiredis connection, used by one thread at a time.
///
/// Not `Sendable`: the hiredis context has no locking of its own. The publisher keeps it inside a
/// `Mutex` and uses it from its thread only.
final class HiredisConnection {
    private var context: UnsafeMutablePointer<redisContext>?
    let endpoint: RedisEndpoint

    /// Connects (bounded by `timeout`, which also bounds every later read and write), then
    /// authenticates and selects the database.
    init(_ endpoint: RedisEndpoint, timeout: Duration = .seconds(10)) throws(RedisBenchError) {
        self.endpoint = endpoint
        let limit = Self.cTimeval(timeout)
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), limit) else {
            throw .connectionFailed(endpoint: "\(endpoint)", reason: "hiredis could not allocate a context")
        }
        self.context = context
        if context.pointee.err != 0 {
            let reason = Self.errorText(context)
            close()
            throw .connectionFailed(endpoint: "\(endpoint)", reason: reason)
        }
        _ = redisSetTimeout(context, limit)
        do {
            if let password = endpoint.password { try expectStatus(["AUTH", password]) }
            if endpoint.database != 0 { try expectStatus(["SELECT", String(endpoint.database)]) }
        } catch {
            close()
            throw error
        }
    }

    deinit { close() }

    func close() {
        if let context { redisFree(context) }
        context = nil
    }

    /// Queues one command in hiredis' output buffer without sending it (pipelining); the next
    /// `reply()` sends everything queued.
    func append(_ arguments: [[UInt8]]) throws(RedisBenchError) {
        guard let context else { throw .connectionLost(reason: "the connection is closed") }
        // hiredis copies the arguments into its output buffer during the call, so one contiguous
        // arena that lives for the call is enough; explicit lengths make it binary-safe.
        var arena: [UInt8] = []
        arena.reserveCapacity(arguments.reduce(1) { $0 + $1.count })
        var offsets: [Int] = []
        var lengths: [Int] = []
        for argument in arguments {
            offsets.append(arena.count)
            lengths.append(argument.count)
            arena += argument
        }
        arena.append(0)  // never empty, so the base address exists
        let status = arena.withUnsafeBufferPointer { bytes in
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            return lengths.withUnsafeBufferPointer { lengthPointer in
                argv.withUnsafeMutableBufferPointer { argvPointer in
                    redisAppendCommandArgv(context, Int32(arguments.count), argvPointer.baseAddress, lengthPointer.baseAddress)
                }
            }
        }
        guard status == REDIS_OK else { throw .connectionLost(reason: Self.errorText(context)) }
    }

    /// Sends what is queued (if anything) and waits for the next reply.
    func reply() throws(RedisBenchError) -> HiredisReply {
        guard let context else { throw .connectionLost(reason: "the connection is closed") }
        var raw: UnsafeMutableRawPointer?
        guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
            if let raw { freeReplyObject(raw) }
            throw .connectionLost(reason: Self.errorText(context))
        }
        defer { freeReplyObject(raw) }
        return Self.copy(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Sends one command and waits for its reply.
    func command(_ arguments: [String]) throws(RedisBenchError) -> HiredisReply {
        try append(arguments.map { Array($0.utf8) })
        return try reply()
    }

    private func expectStatus(_ arguments: [String]) throws(RedisBenchError) {
        let answer = try command(arguments)
        guard case .status = answer else { throw .commandFailed(command: arguments[0], reply: answer.description) }
    }

    private static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> HiredisReply {
        let node = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = node.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: node.len))
        }
        switch node.type {
        case REDIS_REPLY_STRING: return .string(bytes())
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
        // `errstr` is imported as a tuple of CChar: read it as bytes up to the terminator.
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
