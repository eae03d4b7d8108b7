/// Shape checks for identifiers and targets, shared by the decider and by callers that pre-validate.
public enum FieldRules {
    /// Bar periods the broker accepts.
    public static let barPeriods: Set<String> = ["1m", "5m", "15m", "30m", "60m", "1d", "1w"]

    /// Timestamps the broker accepts, in microseconds since 1970-01-01 UTC: from then to
    /// 2100-01-01. Anything outside is a unit mistake or garbage, and far enough from `Int64`'s
    /// ends that adding a period or subtracting from the clock cannot overflow.
    public static let timestampRange: ClosedRange<Int64> = 0...4_102_444_800_000_000

    /// 2000-01-01T00:00:00Z in microseconds: no bar a feeder sends, and no tick another node
    /// shares, is older. A time before it is in seconds or milliseconds, read as a moment of
    /// January 1970 in microseconds.
    public static let earliestFedTime: Int64 = 946_684_800_000_000

    /// Why `value` cannot be the time of a bar fed from outside (`POST /api/klines`, another
    /// node, the seed's K-line cache), or nil when it can.
    public static func fedTimeProblem(_ value: Int64) -> String? {
        value < earliestFedTime ? "is before 2000 in microseconds; send UTC microseconds, not seconds or milliseconds" : nil
    }

    /// Why `value` is not a usable timestamp, or nil when it is.
    public static func timestampProblem(_ value: Int64) -> String? {
        timestampRange.contains(value)
            ? nil : "is \(value), not microseconds since 1970 before 2100 (0…\(timestampRange.upperBound))"
    }

    /// Prices the broker accepts (ticks, previous closes other than 0 = unknown, bar prices).
    /// Wide enough for any listed instrument; narrow enough that change, change percent and their
    /// rounding for the wire stay finite (a price of 1e306, or a previous close of 1e-320, would
    /// turn them into infinities that JSON cannot carry).
    public static let priceRange: ClosedRange<Double> = 1e-9...1e12

    /// Why `value` is not a usable price, or nil when it is.
    /// Largest `change_pct` alert threshold, in percent: a price can fall at most 100 %, and a
    /// rise beyond ten-fold within one day's reference is not a move an alert is for.
    public static let maxChangePercentThreshold = 1_000.0

    public static func priceProblem(_ value: Double) -> String? {
        priceRange.contains(value) ? nil : "must be a finite number from \(priceRange.lowerBound) to \(priceRange.upperBound)"
    }

    /// The length limits count Unicode scalars: a grapheme cluster can hold any number of them,
    /// so counting `Character`s would let a 64-"character" target carry 64 KB.
    public static func length(_ value: String) -> Int { value.unicodeScalars.count }

    /// Why `value` is not a usable identifier (empty, too long, control characters), or nil when it is.
    public static func identifierProblem(_ value: String, maxLength: Int) -> String? {
        if value.isEmpty { return "is empty" }
        let length = length(value)
        if length > maxLength { return "is \(length) characters long, the limit is \(maxLength)" }
        if hasControlCharacters(value) { return "contains control characters" }
        return nil
    }

    /// Whether `value` holds control characters (NUL, escape sequences, line breaks…): refused in
    /// names and dates, which are printed by `brokerd journal` tools and shown by clients as they are.
    /// The control characters (general category Cc, fixed by Unicode's stability policy) are
    /// U+0000–U+001F, U+007F and U+0080–U+009F: in UTF-8 a byte below 0x20, 0x7F, or 0xC2 followed by
    /// 0x80–0x9F. Read from the bytes, since this runs for the name of every tick ingested, and
    /// looking up each scalar's properties cost ~3 % of the broker's CPU at 50,000 ticks/s.
    public static func hasControlCharacters(_ value: String) -> Bool {
        var afterC2 = false
        for byte in value.utf8 {
            if byte < 0x20 || byte == 0x7F || (afterC2 && byte <= 0x9F) { return true }
            afterC2 = byte == 0xC2
        }
        return false
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
        let scalars = value.unicodeScalars
        return scalars.count <= 64 ? "'\(value)'" : "'\(String(scalars.prefix(64)))…'"
    }
}
