/// A Redis stream entry id, `<milliseconds>-<sequence>`, ordered as Redis orders the entries.
struct StreamID: Comparable {
    var milliseconds: UInt64
    var sequence: UInt64

    /// `0-0`, before every entry.
    static let zero = StreamID(milliseconds: 0, sequence: 0)

    init(milliseconds: UInt64, sequence: UInt64) {
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    /// Parses `<ms>-<seq>`, or `<ms>` (sequence 0, as XREAD reads it); nil for anything else, `$` too.
    init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }),
            let milliseconds = UInt64(parts[0]), let sequence = parts.count == 2 ? UInt64(parts[1]) : 0
        else { return nil }
        self.milliseconds = milliseconds
        self.sequence = sequence
    }

    static func < (lhs: StreamID, rhs: StreamID) -> Bool {
        (lhs.milliseconds, lhs.sequence) < (rhs.milliseconds, rhs.sequence)
    }
}
