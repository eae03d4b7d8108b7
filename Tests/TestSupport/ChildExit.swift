import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Process {
    /// The exit status of a child that has ended (the signal's number when a signal ended it, as
    /// `terminationStatus` gives it); nil while it runs.
    ///
    /// Foundation learns of a child's end through a socket the child holds: a copy of it inherited
    /// by another child spawned at the same moment keeps it open, and `isRunning` then stays true
    /// for a child long gone (swift-corelibs-foundation#4795; once here a whole test run hung on an
    /// exited broker). So the kernel is asked too, with `waitid(WNOWAIT)`, which does not reap the
    /// child: Foundation still may.
    public var endedStatus: Int32? { end?.status }

    /// The signal that ended the child; nil while it runs or when it exited.
    public var endingSignal: Int32? {
        guard let end, end.bySignal else { return nil }
        return end.status
    }

    private var end: (status: Int32, bySignal: Bool)? {
        if !isRunning { return (terminationStatus, terminationReason == .uncaughtSignal) }
        var info = siginfo_t()
        guard waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOHANG | WNOWAIT) == 0,
            info._sifields._sigchld.si_pid == processIdentifier
        else { return nil }
        return (info._sifields._sigchld.si_status, info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED)
    }

    /// Waits for the child to end, looking every `interval`; returns `endedStatus`.
    @discardableResult
    public func ended(checkingEvery interval: Duration = .milliseconds(20)) async -> Int32 {
        while true {
            if let status = endedStatus { return status }
            try? await Task.sleep(for: interval)
        }
    }

    /// `ended()` for a caller that cannot await (a `deinit`, a synchronous stop): blocks its
    /// thread, looking every `interval`. Use it where `waitUntilExit()` would be used, which
    /// learns of the end only the way `isRunning` does, and so can wait forever.
    @discardableResult
    public func endedBlocking(checkingEvery interval: Duration = .milliseconds(20)) -> Int32 {
        let (seconds, attoseconds) = interval.components
        let microseconds = useconds_t(max(1, seconds * 1_000_000 + attoseconds / 1_000_000_000_000))
        while true {
            if let status = endedStatus { return status }
            usleep(microseconds)
        }
    }

    /// Whether the child still runs, as the kernel sees it (`isRunning` can say yes for a child
    /// long gone, see `endedStatus`).
    public var isAlive: Bool { endedStatus == nil }
}
