import NIOCore

/// Runs a task's nonisolated code on one NIO event loop thread.
///
/// The tick feed runs on its HTTP connection's own event loop: its pacing and POST timings do not
/// wait for a thread of the global pool, which the clients' bookkeeping and the broker keep busy.
final class EventLoopTaskExecutor: TaskExecutor, Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
