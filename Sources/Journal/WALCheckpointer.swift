import Foundation
import Logging
import Synchronization

/// Copies the write-ahead log into the database file on a thread and connection of its own, so
/// the writer's commits never wait for a checkpoint's disk syncs.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses the threshold: it syncs the
/// log, copies every frame into the database file and syncs that file, all on the writer. At
/// 50,000 events/s that was a 50–70 ms stall every two seconds (two `fdatasync`s of ~10 MB
/// each), and every tick queued behind it. Here the writer's automatic checkpoint is off; every
/// `interval` this thread runs a passive checkpoint (it never blocks readers or the writer, and
/// syncs exactly as SQLite's own would), so the data reaches the file in small steps beside the
/// commits.
///
/// A passive checkpoint from another connection can never catch up with a writer that commits all
/// the time, and SQLite only starts the log over once every frame is copied. So once the log holds
/// `restartFrames` frames, the writer itself runs one more passive checkpoint between two batches:
/// only the frames committed since the last background step are left to copy and sync (this
/// thread also syncs the database file after each of its steps, which SQLite leaves to the
/// checkpoint that reaches the end of the log), which takes a few milliseconds, and the next
/// commit starts the log from the beginning. The log stays
/// about `restartFrames` pages long, as with SQLite's automatic checkpoint.
final class WALCheckpointer: Sendable {
    /// What the checkpointer did so far.
    struct Statistics: Sendable, Equatable {
        var backgroundCheckpoints: UInt64 = 0
        var writerCheckpoints: UInt64 = 0
        var failures: UInt64 = 0
    }

    private struct Control {
        var stopping = false
        var writerCheckpointQueued = false
        var statistics = Statistics()
        /// Whether the last attempt failed: a streak of failures is logged once, and its end.
        var failing = false
    }

    private let control = Mutex(Control())
    private let wakeup = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let logger: Logger

    /// Starts the thread; `writer` is the journal's writer, whose automatic checkpoint must be off.
    init(
        path: String, writer: GroupCommitWriter, settings: CheckpointSettings = CheckpointSettings(),
        logger: Logger = Logger(label: "brokerd.journal")
    ) {
        self.logger = logger
        let thread = Thread { [self] in
            run(path: path, writer: writer, settings: settings)
            finished.signal()
        }
        thread.name = "journal-checkpoint"
        thread.start()
    }

    var statistics: Statistics { control.withLock { $0.statistics } }

    /// Stops the thread and closes its connection; returns once both are done.
    func stop() {
        let first = control.withLock { control -> Bool in
            defer { control.stopping = true }
            return !control.stopping
        }
        guard first else { return }
        wakeup.signal()
        finished.wait()
    }

    private var isStopping: Bool { control.withLock { $0.stopping } }

    private func run(path: String, writer: GroupCommitWriter, settings: CheckpointSettings) {
        let db: SQLiteConnection
        do {
            db = try SQLiteConnection(path: path, readOnly: false, create: false)
            try db.execute("PRAGMA synchronous = NORMAL")
        } catch {
            record(failure: error)
            // Without this thread the writer must checkpoint for itself again, or the log grows forever.
            writer.schedule { try $0.execute("PRAGMA wal_autocheckpoint = \(settings.restartFrames)") }
            return
        }
        // SQLite syncs the database file only after a checkpoint that reached the end of the log,
        // which with a busy writer is the writer's own; syncing the copied pages here leaves it
        // little to write then.
        let file = open(path, O_RDONLY | O_CLOEXEC)
        defer { if file >= 0 { close(file) } }
        var checkedSeq: UInt64?
        var lastProgress = SQLiteConnection.CheckpointProgress(walFrames: 0, backfilled: 0)
        while true {
            _ = wakeup.wait(timeout: .now() + .nanoseconds(Int(settings.interval / .nanoseconds(1))))
            if isStopping { return }
            let seq = writer.head.seq
            // Idle: nothing committed since a checkpoint that copied everything.
            if seq == checkedSeq && lastProgress.isComplete { continue }
            checkedSeq = seq
            do {
                guard let progress = try db.checkpointPassive() else { continue }
                lastProgress = progress
                if file >= 0 && progress.backfilled > 0 { fdatasync(file) }
                recordSuccess { $0.backgroundCheckpoints += 1 }
                if progress.walFrames >= settings.restartFrames { queueWriterCheckpoint(writer) }
            } catch {
                record(failure: error)
            }
        }
    }

    /// Has the writer finish the checkpoint between two batches, at most one request at a time.
    private func queueWriterCheckpoint(_ writer: GroupCommitWriter) {
        let queue = control.withLock { control -> Bool in
            defer { control.writerCheckpointQueued = true }
            return !control.writerCheckpointQueued
        }
        guard queue else { return }
        writer.schedule { [self] db in
            defer { control.withLock { $0.writerCheckpointQueued = false } }
            do {
                _ = try db.checkpointPassive()
                recordSuccess { $0.writerCheckpoints += 1 }
            } catch {
                record(failure: error)
            }
        }
    }

    private func recordSuccess(_ count: (inout Statistics) -> Void) {
        let recovered = control.withLock { control -> Bool in
            count(&control.statistics)
            defer { control.failing = false }
            return control.failing
        }
        if recovered { logger.notice("journal checkpoints work again") }
    }

    private func record(failure error: any Error) {
        let first = control.withLock { control -> Bool in
            control.statistics.failures += 1
            defer { control.failing = true }
            return !control.failing
        }
        if first {
            logger.warning(
                "journal checkpoint failed; the write-ahead log grows until one succeeds",
                metadata: ["error": "\(error)"])
        }
    }
}
