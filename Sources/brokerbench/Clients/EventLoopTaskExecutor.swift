import NIOCore

/// Runs a task's nonisolated code on one NIO event loop thread.
///
/// A client task preferring the event loop its socket lives on reads frames without a thread hop:
/// the inbound stream resumes the task on the thread that just read the bytes. Left on the global
/// pool, every message cost two cross-thread wake-ups, and the load tool, not the broker, set
/// the latency at 1,000 clients.
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
