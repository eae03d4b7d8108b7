import CEpoll
import Glibc

/// One epoll instance, owned by the thread that waits on it.
///
/// Level-triggered; each registration carries a caller-chosen token (an index into the owner's
/// table) that comes back with its events. A class, so that a descriptor can be re-registered from
/// inside `wait`'s callback.
final class Epoll {
    private let descriptor: Int32
    private let events: UnsafeMutableBufferPointer<epoll_event>

    static let readable = EPOLLIN.rawValue
    static let writable = EPOLLOUT.rawValue
    /// Hang-up or error: reported whether asked for or not.
    static let failed = EPOLLHUP.rawValue | EPOLLERR.rawValue

    init(capacity: Int = 256) throws(SocketError) {
        descriptor = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard descriptor >= 0 else { throw SocketError(call: "epoll_create1", code: errno) }
        events = .allocate(capacity: capacity)
        events.initialize(repeating: epoll_event())
    }

    deinit {
        close(descriptor)
        events.deallocate()
    }

    /// Watches `fd` for `interest` (`readable`, `writable` or both), reporting `token`.
    func add(_ fd: Int32, interest: UInt32, token: UInt64) throws(SocketError) {
        try control(EPOLL_CTL_ADD, fd, interest: interest, token: token)
    }

    /// Changes what `fd` is watched for.
    func modify(_ fd: Int32, interest: UInt32, token: UInt64) throws(SocketError) {
        try control(EPOLL_CTL_MOD, fd, interest: interest, token: token)
    }

    private func control(_ operation: Int32, _ fd: Int32, interest: UInt32, token: UInt64) throws(SocketError) {
        var event = epoll_event()
        event.events = interest
        event.data.u64 = token
        guard epoll_ctl(descriptor, operation, fd, &event) == 0 else { throw SocketError(call: "epoll_ctl", code: errno) }
    }

    /// Waits up to `milliseconds` and calls `body` with the token and events of each ready descriptor.
    func wait(milliseconds: Int32, _ body: (_ token: UInt64, _ events: UInt32) -> Void) {
        let ready = epoll_wait(descriptor, events.baseAddress, Int32(events.count), milliseconds)
        guard ready > 0 else { return }
        for index in 0..<Int(ready) {
            body(events[index].data.u64, events[index].events)
        }
    }
}

/// A failed system call and its errno.
struct SocketError: Error, CustomStringConvertible {
    let call: String
    let code: Int32

    var description: String { "\(call) failed: \(String(cString: strerror(code)))" }
}
