/// The strategy the benchmark creates and subscribes to, and the ticks it feeds for it.
///
/// Tick ids start at 1 and go round the codes: tick `id` is for code index `(id - 1) % size`.
/// The id travels in the tick's `volume`, which the broker echoes unchanged, so a client can tell
/// which tick an entry came from and which earlier ticks of the same code it superseded.
struct BenchStrategy: Sendable {
    /// Codes 600000, 600001, … are valid Shanghai A-share shapes; 1,000 of them stay in that range.
    static let maximumSize = 1_000
    static let firstCode = 600_000

    let name: String
    let size: Int

    init(name: String = "bench_strategy", size: Int) {
        precondition((1...Self.maximumSize).contains(size), "strategy size must be 1…\(Self.maximumSize)")
        self.name = name
        self.size = size
    }

    func code(at index: Int) -> String { String(Self.firstCode + index) }

    /// The code index of a tick id.
    @inline(__always)
    func codeIndex(ofTick id: UInt64) -> Int { Int((id &- 1) % UInt64(size)) }

    /// The code index of a six-digit code, or nil when it is not one of this strategy's.
    @inline(__always)
    func codeIndex(ofCode number: Int) -> Int? {
        let index = number - Self.firstCode
        return (0..<size).contains(index) ? index : nil
    }

    /// How many tick ids in `range` belong to code `index`.
    func tickCount(ofCode index: Int, in range: ClosedRange<UInt64>) -> UInt64 {
        // Ids of code c are c+1, c+1+size, …; count those up to n, then subtract.
        func upTo(_ n: UInt64) -> UInt64 {
            let first = UInt64(index) + 1
            return n < first ? 0 : (n - first) / UInt64(size) + 1
        }
        return upTo(range.upperBound) - upTo(range.lowerBound - 1)
    }

    /// The last tick id of each code in `range` (0 where a code has none).
    func finalTickIDs(in range: ClosedRange<UInt64>) -> [UInt64] {
        (0..<size).map { index in
            let first = UInt64(index) + 1
            guard range.upperBound >= first else { return 0 }
            let last = range.upperBound - (range.upperBound - first) % UInt64(size)
            return last >= range.lowerBound ? last : 0
        }
    }

    /// Body of `PUT /api/signals/{name}`.
    func signalsBody() -> String {
        let signals = (0..<size).map { #"{"code":"\#(code(at: $0))","name":"Bench \#($0)"}"# }
        return #"{"signals":["# + signals.joined(separator: ",") + "]}"
    }

    /// Subscribe message a client sends.
    var subscribeMessage: String {
        #"{"type":"subscribe","subscription_type":"strategy","target":"\#(name)"}"#
    }

    /// Body of `POST /api/ticks` for the ticks with ids in `ids`.
    func ticksBody(ids: ClosedRange<UInt64>) -> String {
        var body = #"{"ticks":["#
        body.reserveCapacity(16 + ids.count * 90)
        for id in ids {
            let index = codeIndex(ofTick: id)
            // A price between 10.00 and 11.99 that moves with every tick; always finite and positive.
            let cents = 1_000 + Int(id % 200)
            let fraction = cents % 100
            if id != ids.lowerBound { body += "," }
            body += #"{"code":"\#(Self.firstCode + index)","name":"Bench \#(index)","price":\#(cents / 100).\#(fraction < 10 ? "0" : "")\#(fraction),"volume":\#(id),"prev_close":10.0}"#
        }
        body += "]}"
        return body
    }
}
