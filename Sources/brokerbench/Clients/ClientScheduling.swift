import ArgumentParser
import Glibc

/// How the kernel schedules the load tool's client threads, which share the cores with the broker.
///
/// A broker `write` to a client socket wakes the client thread that waits on it. Under the normal
/// policy the woken thread may preempt the broker's event loop mid-round, once per socket; under
/// `SCHED_BATCH` it waits for the end of the running thread's time slice or a free core. The client
/// threads' CPU share is the same either way; only wake-up preemption changes. Client machines do
/// not preempt the broker at all, so `batch` is the closer stand-in for them.
enum ClientScheduling: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// `SCHED_OTHER`, the default policy of every thread.
    case normal
    /// `SCHED_BATCH`: no preemption on wake-up.
    case batch

    /// Linux's `SCHED_BATCH` (`<linux/sched.h>`); Glibc's Swift module does not export it.
    private static let schedBatch: Int32 = 3

    /// Puts the calling thread under this policy; returns `errno` when the kernel refuses.
    private func applyToCurrentThread() -> Int32? {
        guard self == .batch else { return nil }
        var parameters = sched_param()
        parameters.sched_priority = 0
        // On Linux, pid 0 is the calling thread, not the whole process.
        return sched_setscheduler(0, Self.schedBatch, &parameters) == 0 ? nil : errno
    }

    /// Applies the policy to the calling thread and says so on stderr when the kernel refuses.
    func applyOrWarn() {
        if let error = applyToCurrentThread() {
            progress("warning: \(rawValue) scheduling refused (errno \(error)); the thread keeps the normal policy")
        }
    }
}
