/// What a subcommand prints: a title, a two-column table, and one JSON line last.
struct BenchReport: Sendable {
    var title: String
    var rows: [(String, String)] = []
    var json: [(String, JSONValue)] = []
    var notes: [String] = []

    init(title: String) {
        self.title = title
    }

    mutating func row(_ label: String, _ value: String) { rows.append((label, value)) }
    mutating func field(_ key: String, _ value: JSONValue) { json.append((key, value)) }
    mutating func note(_ text: String) { notes.append(text) }

    var rendered: String {
        let width = rows.map(\.0.count).max() ?? 0
        var lines = [title]
        for (label, value) in rows {
            lines.append("  " + label + String(repeating: " ", count: width - label.count) + "  " + value)
        }
        lines += notes.map { "  ! " + $0 }
        lines.append(JSONValue.object(json).rendered)
        return lines.joined(separator: "\n")
    }
}
