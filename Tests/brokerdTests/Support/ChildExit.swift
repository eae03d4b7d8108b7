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
    var endedStatus: Int32? {
        if !isRunning { return terminationStatus }
        var info = siginfo_t()
        guard waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOHANG | WNOWAIT) == 0,
            info._sifields._sigchld.si_pid == processIdentifier
        else { return nil }
        return info._sifields._sigchld.si_status
    }

    /// Waits for the child to end, looking every `interval`; returns `endedStatus`.
    func ended(checkingEvery interval: Duration = .milliseconds(20)) async -> Int32 {
        while true {
            if let status = endedStatus { return status }
            try? await Task.sleep(for: interval)
        }
    }
}
