/// A value as its source delivered it, before it is checked against its setting.
///
/// Environment variables and flags arrive as `.text` and are parsed; TOML values arrive typed,
/// and a TOML value of the wrong type is rejected rather than converted.
enum SettingValue: Sendable, Equatable {
    /// Untyped text from the environment or a flag.
    case text(String)
    /// A TOML string.
    case string(String)
    case integer(Int)
    case float(Double)
    case boolean(Bool)
    /// A TOML array whose elements are all strings.
    case strings([String])
    /// A TOML value of a type no setting takes (a table, a date, a mixed array), by its type name.
    case unsupported(String)

    /// The value as the operator wrote it, for error messages; secrets are not repeated.
    func display(secret: Bool) -> String {
        if secret, !isEmptyText { return "<redacted>" }
        switch self {
        case .text(let text): return text.isEmpty ? "\"\"" : text
        case .string(let text): return "\"\(text)\""
        case .integer(let number): return "\(number)"
        case .float(let number): return "\(number)"
        case .boolean(let flag): return "\(flag)"
        case .strings(let texts): return "[" + texts.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
        case .unsupported(let type): return "<\(type)>"
        }
    }

    private var isEmptyText: Bool {
        switch self {
        case .text(let text), .string(let text): text.isEmpty
        default: false
        }
    }

    /// "a string", "an integer"…, for wrong-type messages.
    private var typeDescription: String {
        switch self {
        case .text, .string: "a string"
        case .integer: "an integer"
        case .float: "a floating-point number"
        case .boolean: "a boolean"
        case .strings: "an array"
        case .unsupported(let type): ("aeiou".contains(type.first ?? "x") ? "an " : "a ") + type
        }
    }

    private func wrongType(_ expected: String) -> SettingRejection {
        SettingRejection("must be \(expected), not \(typeDescription)")
    }
}

/// Why a value does not fit its setting; becomes `ConfigurationError.invalidValue`.
struct SettingRejection: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}

// MARK: - Reading typed values

extension SettingValue {
    /// A whole number within `range`.
    func integer(in range: ClosedRange<Int>) throws(SettingRejection) -> Int {
        let number: Int
        switch self {
        case .integer(let value): number = value
        case .text(let text):
            guard let value = Int(text.trimmed) else { throw SettingRejection("must be a whole number") }
            number = value
        default: throw wrongType("an integer")
        }
        guard range.contains(number) else {
            throw SettingRejection(
                range.upperBound == .max
                    ? "must be at least \(range.lowerBound)" : "must be \(range.lowerBound)…\(range.upperBound)")
        }
        return number
    }

    /// A finite number above `minimum` (or at least it, when `inclusive`) and at most `maximum`.
    func number(above minimum: Double, inclusive: Bool = false, maximum: Double) throws(SettingRejection) -> Double {
        let number: Double
        switch self {
        case .integer(let value): number = Double(value)
        case .float(let value): number = value
        case .text(let text):
            guard let value = Double(text.trimmed) else { throw SettingRejection("must be a number") }
            number = value
        default: throw wrongType("a number")
        }
        guard number.isFinite else { throw SettingRejection("must be a finite number") }
        if inclusive ? number < minimum : number <= minimum {
            let bound = minimum.plainText
            throw SettingRejection(inclusive ? "must be at least \(bound)" : "must be greater than \(bound)")
        }
        guard number <= maximum else { throw SettingRejection("must be at most \(maximum.plainText)") }
        return number
    }

    /// A duration in seconds, fractions allowed, at most a year; one that is not 0 is at least a
    /// millisecond (less would round to nothing where the broker keeps it in microseconds).
    func seconds(allowZero: Bool) throws(SettingRejection) -> Duration {
        let seconds = try number(above: 0, inclusive: allowZero, maximum: 31_536_000)
        guard seconds == 0 || seconds >= 0.001 else {
            throw SettingRejection(allowZero ? "must be 0 or at least 0.001 (a millisecond)" : "must be at least 0.001 (a millisecond)")
        }
        return .seconds(seconds)
    }

    /// `true`/`false` from TOML; on/off, true/false, yes/no or 1/0 as text.
    func boolean() throws(SettingRejection) -> Bool {
        switch self {
        case .boolean(let flag): return flag
        case .text(let text):
            switch text.trimmed.lowercased() {
            case "on", "true", "yes", "1": return true
            case "off", "false", "no", "0": return false
            default: throw SettingRejection("must be on or off")
            }
        default: throw wrongType("a boolean (true or false)")
        }
    }

    /// A non-empty string.
    func string() throws(SettingRejection) -> String {
        switch self {
        case .text(let text), .string(let text):
            guard !text.isEmpty else { throw SettingRejection("must not be empty (leave the setting out instead)") }
            return text
        default: throw wrongType("a string")
        }
    }

    /// A non-empty string without spaces or control characters.
    func word() throws(SettingRejection) -> String {
        let text = try string()
        guard !text.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true })
        else { throw SettingRejection("must not contain spaces or control characters") }
        return text
    }

    /// One of the cases of `Choice`, by raw value; text from env and flags is case-insensitive.
    func choice<Choice: CaseIterable & RawRepresentable>(
        of _: Choice.Type
    ) throws(SettingRejection) -> Choice where Choice.RawValue == String {
        let text = try string()
        let normalized = if case .text = self { text.trimmed.lowercased() } else { text }
        guard let choice = Choice(rawValue: normalized) else {
            throw SettingRejection("must be one of " + Choice.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return choice
    }

    /// A TOML array of strings, or comma-separated text (empty text is an empty list).
    func list() throws(SettingRejection) -> [String] {
        switch self {
        case .strings(let texts): return texts
        case .text(let text): return text.split(separator: ",").map { String($0).trimmed }.filter { !$0.isEmpty }
        default: throw wrongType("an array of strings")
        }
    }
}

extension String {
    /// Without leading and trailing whitespace.
    fileprivate var trimmed: String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

extension Double {
    /// `20` rather than `20.0` for whole numbers.
    var plainText: String {
        rounded() == self && abs(self) < 1e15 ? "\(Int(self))" : "\(self)"
    }
}
