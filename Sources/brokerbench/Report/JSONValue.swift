/// A JSON value with ordered keys, for the one-line result.
enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    static func optional(_ value: Int?) -> JSONValue { value.map(JSONValue.int) ?? .null }
    static func optional(_ value: Double?) -> JSONValue { value.map(JSONValue.double) ?? .null }

    /// Compact JSON text.
    var rendered: String {
        switch self {
        case .null: "null"
        case .bool(let flag): flag ? "true" : "false"
        case .int(let number): String(number)
        case .double(let number):
            number.isFinite ? String(format3: number) : "null"
        case .string(let text): Self.quoted(text)
        case .array(let items): "[" + items.map(\.rendered).joined(separator: ",") + "]"
        case .object(let members):
            "{" + members.map { Self.quoted($0.0) + ":" + $0.1.rendered }.joined(separator: ",") + "}"
        }
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                    + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension String {
    /// A number with at most three decimals and no trailing zeros (1.5, 0.125, 12).
    init(format3 number: Double) {
        let scaled = (number * 1000).rounded()
        guard abs(scaled) < 1e15 else {
            self = String(number)
            return
        }
        let thousandths = Int(scaled)
        let whole = thousandths / 1000
        var fraction = abs(thousandths % 1000)
        var digits = 3
        while digits > 0 && fraction % 10 == 0 {
            fraction /= 10
            digits -= 1
        }
        let sign = thousandths < 0 && whole == 0 ? "-" : ""
        guard digits > 0 else {
            self = sign + String(whole)
            return
        }
        let fractionText = String(fraction)
        self = sign + String(whole) + "." + String(repeating: "0", count: digits - fractionText.count) + fractionText
    }
}
