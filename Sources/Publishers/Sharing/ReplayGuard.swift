import Synchronization

/// Refuses a copy of a signed message published again: one whose stamp was read before, or that
/// was signed too long before (or after) it is read. A signature proves who made a message, not
/// that it is new; without this, anyone who can read and write Redis could publish a node's old
/// message again (a removal, an old signal list in the shared log) and have it taken.
///
/// Each signing process numbers its messages (`SharedMessageSigner.Stamp`), so a reader keeps,
/// per process (`NodeOrigin.instance`), the highest number it took and which of the
/// `windowSize` numbers below it it took, as IPsec's anti-replay window does (RFC 4303 §3.4.3):
/// a node's messages may come a little out of its numbering (a batch's log entries are numbered
/// before its other messages), never twice. Processes not heard from for twice `maxAge` are
/// forgotten: anything of theirs would be refused for its age by then. Only messages whose
/// signature checked come here, so the processes kept are the deployment's own.
///
/// A guard starts knowing nothing, so a reader that restarts (a new process, or a source restarted
/// in one) would take once more a copy of a message it took before, within the message's 30 s. A
/// reader that cannot recall what it took (pub/sub keeps no history: the shared log's reader reads
/// the log's last minute instead) refuses what was signed before it started (`notSignedBefore`):
/// what it took before was signed before that, and a message published after it subscribed was
/// signed after it started, unless its signer's clock is behind this one's.
final class ReplayGuard: Sendable {
    /// Why a message was refused.
    enum Refusal: Equatable, Sendable, CustomStringConvertible {
        /// Signed more than `maxAge` before (or after, with a negative age) the time it is read at.
        case stale(ageSeconds: Int64)
        /// Its number was taken before from the same process, or is too far behind its newest.
        case repeated(number: UInt64)
        /// Signed before the reader started (`notSignedBefore`), by this many milliseconds.
        case signedBeforeStart(milliseconds: Int64)

        var description: String {
            switch self {
            case .stale(let age) where age < 0:
                "signed \(-age) s after the time it is read at: a clock apart from this one's"
            case .stale(let age):
                "signed \(age) s before it is read: published again, or a clock apart from this one's"
            case .repeated(let number):
                "its signer's message number \(number) was taken before: published again"
            case .signedBeforeStart(let milliseconds):
                "signed \(milliseconds) ms before this reader started: a copy of one it may have taken before a restart,"
                    + " or a clock behind this one's"
            }
        }
    }

    /// The longest a signed message may take from its signing to its reading, either way (the
    /// nodes' clocks are assumed that close, as a removal's age is).
    static let maxAge = UserRemoval.maxAge
    private static let maxAgeMicroseconds = Int64(maxAge.components.seconds) * 1_000_000
    /// How far behind its process's newest number a message may come.
    static let windowSize: UInt64 = 4_096

    private struct Window {
        /// The highest number taken.
        var highest: UInt64
        /// Which numbers taken, for `highest` and the `windowSize - 1` below it: bit `n % windowSize`.
        var taken = [UInt64](repeating: 0, count: Int(ReplayGuard.windowSize / 64))
        /// The reading time of the last message taken (µs).
        var lastTaken: Int64

        init(first number: UInt64, at time: Int64) {
            highest = number
            lastTaken = time
            mark(number)
        }

        func isTaken(_ number: UInt64) -> Bool {
            let bit = number % ReplayGuard.windowSize
            return taken[Int(bit / 64)] & (1 << (bit % 64)) != 0
        }

        mutating func mark(_ number: UInt64) {
            let bit = number % ReplayGuard.windowSize
            taken[Int(bit / 64)] |= 1 << (bit % 64)
        }

        mutating func clear(_ number: UInt64) {
            let bit = number % ReplayGuard.windowSize
            taken[Int(bit / 64)] &= ~(1 << (bit % 64))
        }

        /// Takes `number` unless it was taken or is out of the window behind `highest`.
        mutating func take(_ number: UInt64, at time: Int64) -> Bool {
            if number > highest {
                if number - highest >= ReplayGuard.windowSize {
                    taken = [UInt64](repeating: 0, count: taken.count)
                } else {
                    for skipped in (highest + 1)..<number { clear(skipped) }
                }
                highest = number
            } else if highest - number >= ReplayGuard.windowSize || isTaken(number) {
                return false
            }
            mark(number)
            lastTaken = time
            return true
        }
    }

    private struct State {
        var windows: [String: Window] = [:]
        /// Messages taken since the last sweep of forgotten processes.
        var sinceSweep = 0
    }

    private let state = Mutex(State())
    /// Messages signed before this time (µs since the epoch) are refused; nil: none are for it.
    private let notSignedBefore: Int64?

    /// A guard that refuses messages signed before `notSignedBefore` (µs since the epoch), when given.
    init(notSignedBefore: Int64? = nil) {
        self.notSignedBefore = notSignedBefore
    }

    /// Takes a message signed with `stamp` by the process `instance`, read at `time` (µs since
    /// the epoch: now for pub/sub, the entry's time for the shared log); nil when it is new, or
    /// why it is refused.
    func admit(_ stamp: SharedMessageSigner.Stamp, from instance: String, at time: Int64) -> Refusal? {
        // Both non-negative (a stamp's time is checked when read), so the difference cannot overflow.
        let age = time - stamp.at
        guard abs(age) <= Self.maxAgeMicroseconds else { return .stale(ageSeconds: age / 1_000_000) }
        if let notSignedBefore, stamp.at < notSignedBefore {
            return .signedBeforeStart(milliseconds: max(1, (notSignedBefore - stamp.at) / 1_000))
        }
        return state.withLock { state -> Refusal? in
            state.sinceSweep += 1
            if state.sinceSweep >= 1_024 {
                state.sinceSweep = 0
                let forgotten = time - 2 * Self.maxAgeMicroseconds
                state.windows = state.windows.filter { $0.value.lastTaken >= forgotten }
            }
            guard var window = state.windows[instance] else {
                state.windows[instance] = Window(first: stamp.number, at: time)
                return nil
            }
            defer { state.windows[instance] = window }
            return window.take(stamp.number, at: time) ? nil : .repeated(number: stamp.number)
        }
    }

    /// How many processes it keeps windows for.
    var processes: Int { state.withLock { $0.windows.count } }
}
