import Foundation

/// Number formatting for the table.
enum Format {
    /// 1234567 → "1,234,567".
    static func count<Number: BinaryInteger>(_ value: Number) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (offset, digit) in digits.enumerated() {
            if offset > 0 && (digits.count - offset) % 3 == 0 { out += "," }
            out.append(digit)
        }
        return (value < 0 ? "-" : "") + out
    }

    static func rate(_ value: Double) -> String { count(Int(value.rounded())) + "/s" }

    static func decimal(_ value: Double, places: Int = 1) -> String {
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let scaled = Int((value * scale).rounded())
        let whole = scaled / Int(scale)
        let fraction = String(abs(scaled % Int(scale)))
        guard places > 0 else { return String(whole) }
        let sign = scaled < 0 && whole == 0 ? "-" : ""
        return sign + String(whole) + "." + String(repeating: "0", count: places - fraction.count) + fraction
    }

    static func megabytes(kilobytes: Int?) -> String {
        kilobytes.map { decimal(Double($0) / 1024) + " MiB" } ?? "n/a (no pid: use --spawn or --broker-pid)"
    }

    static func micros(_ value: UInt64) -> String {
        value >= 10_000 ? decimal(Double(value) / 1000) + " ms" : String(value) + " µs"
    }
}

/// Writes a progress line to standard error, so standard output stays table + JSON.
func progress(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
