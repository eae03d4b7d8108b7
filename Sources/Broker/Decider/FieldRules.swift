/// Shape checks for identifiers and targets, shared by the decider and by callers that pre-validate.
public enum FieldRules {
    /// Bar periods the broker accepts.
    public static let barPeriods: Set<String> = ["1m", "5m", "15m", "30m", "60m", "1d", "1w"]

    /// Why `value` is not a usable identifier (empty, too long, control characters), or nil when it is.
    public static func identifierProblem(_ value: String, maxLength: Int) -> String? {
        if value.isEmpty { return "is empty" }
        let length = value.count
        if length > maxLength { return "is \(length) characters long, the limit is \(maxLength)" }
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "contains control characters"
        }
        return nil
    }

    /// Whether `code` is a stock code: 1 to 16 ASCII letters, digits or dots.
    public static func isValidCode(_ code: String) -> Bool {
        let utf8 = code.utf8
        guard (1...16).contains(utf8.count) else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "."):
                true
            default:
                false
            }
        }
    }

    /// `value` quoted for an error message, cut short so a huge input does not bloat the reply.
    static func quoted(_ value: String) -> String {
        value.count <= 64 ? "'\(value)'" : "'\(value.prefix(64))…'"
    }
}
