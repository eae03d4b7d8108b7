/// A stock exchange board, the target of `market` subscriptions.
public enum Board: String, Sendable, Hashable, Codable, CaseIterable {
    /// Shanghai: codes 6xxxxx.
    case sh
    /// Shenzhen: codes 0xxxxx and 3xxxxx.
    case sz
    /// Beijing: codes 4xxxxx, 8xxxxx and 92xxxx (the segment the exchange has issued new codes
    /// from since 2024).
    case bj

    /// The board listing `code`, or nil unless the code is exactly six ASCII digits with a known prefix.
    /// B-shares (900xxx in Shanghai, 200xxx in Shenzhen) are on no board: they trade apart, in
    /// dollars and Hong Kong dollars.
    public static func of(code: String) -> Board? {
        let utf8 = code.utf8
        guard utf8.count == 6, utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return nil
        }
        switch utf8.first {
        case UInt8(ascii: "6"): return .sh
        case UInt8(ascii: "0"), UInt8(ascii: "3"): return .sz
        case UInt8(ascii: "4"), UInt8(ascii: "8"): return .bj
        case UInt8(ascii: "9"): return utf8.dropFirst().first == UInt8(ascii: "2") ? .bj : nil
        default: return nil
        }
    }
}
