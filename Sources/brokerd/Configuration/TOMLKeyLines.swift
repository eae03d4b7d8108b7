/// The line on which each key of a TOML document is written, so errors can point at it.
///
/// TOMLKit reports positions only for syntax errors, not for values; this light scan of `[table]`
/// headers and `key =` lines recovers them. It understands bare and quoted keys and dotted keys; a key
/// it cannot place (say, inside an inline table) simply has no line.
struct TOMLKeyLines {
    private var lines: [String: Int] = [:]

    init(_ contents: String) {
        var table: String?
        var lineNumber = 0
        for rawLine in contents.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.drop(while: \.isWhitespace)
            if line.hasPrefix("[") {
                guard !line.hasPrefix("[["), let close = line.firstIndex(of: "]") else { continue }
                let name = Self.normalizedKey(line[line.index(after: line.startIndex)..<close])
                table = name
                record(name, lineNumber)
            } else if let equals = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = Self.normalizedKey(line[..<equals])
                guard !key.isEmpty else { continue }
                record(table.map { "\($0).\(key)" } ?? key, lineNumber)
            }
        }
    }

    /// The line of a dotted key path such as `limits.max_frame_bytes`, or of a table such as `limits`.
    func line(of path: String) -> Int? { lines[path] }

    private mutating func record(_ path: String, _ line: Int) {
        if lines[path] == nil { lines[path] = line }
    }

    /// `limits . "max_frame_bytes"` → `limits.max_frame_bytes`.
    private static func normalizedKey(_ text: Substring) -> String {
        text.split(separator: ".")
            .map { part in
                var part = part.drop(while: \.isWhitespace)
                while part.last?.isWhitespace == true { part = part.dropLast() }
                if part.count >= 2, let first = part.first, first == "\"" || first == "'", part.last == first {
                    part = part.dropFirst().dropLast()
                }
                return String(part)
            }
            .joined(separator: ".")
    }
}
