import Collections

/// The order in which one connection's inbound frames and its end are worked through, without a
/// task per connection.
///
/// Pure: frames in, what to do next out; the owner (`WebSocketSession`, on the channel's event
/// loop) does the work. Work that needs no journal is done right where a frame arrives; the first
/// frame that needs async work (a journal append) makes the inbox *busy*: a short-lived task owns
/// it, takes the frames that queued up meanwhile strictly in order, and gives it back when none
/// are left. An idle connection therefore holds no task at all.
///
/// A new inbox is busy: the task that opens the session owns it until the session is open.
struct SessionInbox<Frame> {
    /// What became of a frame that arrived.
    enum Receipt: Equatable {
        /// The inbox is idle: work on the frame now; if it needs async work, `claim()` the inbox.
        case workNow
        /// A task owns the inbox: the frame waits for it.
        case queued
        /// The session is ending: the frame is dropped.
        case dropped
    }

    /// What the task owning the inbox does next.
    enum Next {
        /// The oldest waiting frame.
        case frame(Frame)
        /// End the session (once; the inbox stays busy for good).
        case end
        /// Nothing left: the inbox is idle again and the task stops.
        case idle
    }

    private var frames: Deque<Frame> = []
    /// Whether a task owns the inbox.
    private(set) var isBusy = true
    /// Whether the session's end was asked for.
    private(set) var isEnding = false
    private var ended = false

    /// Frames waiting for the task.
    var queued: Int { frames.count }

    /// Takes a frame from the connection.
    mutating func receive(_ frame: Frame) -> Receipt {
        guard !isEnding else { return .dropped }
        guard isBusy else { return .workNow }
        frames.append(frame)
        return .queued
    }

    /// The frame worked on now needs async work: a task takes the inbox over.
    mutating func claim() {
        precondition(!isBusy, "claimed a busy inbox")
        isBusy = true
    }

    /// The owning task's next step.
    mutating func next() -> Next {
        precondition(isBusy, "an idle inbox has no owner to ask")
        if let frame = frames.popFirst() { return .frame(frame) }
        if isEnding {
            guard !ended else { return .idle }
            ended = true
            return .end
        }
        isBusy = false
        return .idle
    }

    /// Asks for the session's end, after the waiting frames or instead of them (`dropQueued`).
    /// The first request wins. Returns true when the inbox was idle: the caller starts a task
    /// (the inbox is now busy) that asks `next()`, which answers `.end`.
    mutating func end(dropQueued: Bool) -> Bool {
        guard !isEnding else { return false }
        isEnding = true
        if dropQueued { frames.removeAll() }
        guard !isBusy else { return false }
        isBusy = true
        return true
    }
}
