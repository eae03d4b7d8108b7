/// A stock exchange board, the target of `market` subscriptions.
public enum Board: String, Sendable, Hashable, Codable, CaseIterable {
    /// Shanghai: codes 6xxxxx.
    case sh
    /// Shenzhen: codes 0xxxxx and 3xxxxx.
    case sz
    /// Beijing: codes 4xxxxx and 8xxxxx.
    case bj

    /// The board listing `code`, or nil unless the code is exactly six ASCII digits with a known prefix.
    public static func of(code: String) -> Board? {
        let utf8 = code.utf8
        guard utf8.count == 6, utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        switch utf8.first {
        case UInt8(ascii: "6"): return .sh
        case UInt8(ascii: "0"), UInt8(ascii: "3"): return .sz
        case UInt8(ascii: "4"), UInt8(ascii: "8"): return .bj
        default: return nil
        }
    }
}
