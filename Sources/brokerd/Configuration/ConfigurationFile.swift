import TOMLKit

/// Reads `brokerd.toml` into setting entries: top-level keys plus the `[limits]`, `[simulator]`,
/// `[redis]` and `[auth]` tables. Unknown keys and tables are errors, so a typo cannot go unnoticed.
enum ConfigurationFile {
    /// The file's settings in line order, or the first unknown key or syntax error.
    static func entries(in contents: String, path: String) throws(ConfigurationError) -> [SettingEntry] {
        let document: TOMLTable
        do {
            document = try TOMLTable(string: contents)
        } catch let error as TOMLParseError {
            throw .malformedFile(
                path: path, line: error.source.begin.line, column: error.source.begin.column,
                reason: error.description)
        } catch {
            throw .malformedFile(path: path, line: nil, column: nil, reason: "\(error)")
        }

        let lines = TOMLKeyLines(contents)
        func source(_ key: String) -> ConfigurationSource { .file(path: path, line: lines.line(of: key)) }

        var entries: [SettingEntry] = []
        var problems: [ConfigurationError] = []
        for (key, value) in document {
            if Setting.tables.contains(key) {
                guard let table = value.table else {
                    problems.append(
                        .invalidValue(
                            setting: key, value: SettingValue(value).display(secret: false), source: source(key),
                            reason: "must be a table: put [\(key)] on a line of its own, then its keys"))
                    continue
                }
                for (innerKey, innerValue) in table {
                    let path = "\(key).\(innerKey)"
                    if let setting = Setting.allCases.first(where: { $0.table == key && $0.fileKey == innerKey }) {
                        entries.append(
                            SettingEntry(setting: setting, value: SettingValue(innerValue), source: source(path)))
                    } else {
                        problems.append(.unknownSetting(key: path, source: source(path), hint: hint(forUnknown: path)))
                    }
                }
            } else if let setting = Setting.allCases.first(where: { $0.table == nil && $0.fileKey == key }) {
                entries.append(SettingEntry(setting: setting, value: SettingValue(value), source: source(key)))
            } else {
                problems.append(.unknownSetting(key: key, source: source(key), hint: hint(forUnknown: key)))
            }
        }
        if let first = problems.min(by: { lineOrder($0.source) < lineOrder($1.source) }) { throw first }
        return entries.sorted { lineOrder($0.source) < lineOrder($1.source) }
    }

    /// What the operator may have meant by a key that is not a setting.
    static func hint(forUnknown path: String) -> String {
        let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
        let key = parts.last ?? path
        if let setting = Setting.allCases.first(where: { $0.fileKey == key || $0.name == key }) {
            return "not a brokerd setting here; did you mean \(setting.filePath)?"
        }
        if parts.count == 2, Setting.tables.contains(parts[0]) {
            let keys = Setting.allCases.filter { $0.table == parts[0] }.map(\.fileKey)
            return "not a brokerd setting; [\(parts[0])] takes " + keys.joined(separator: ", ")
        }
        let keys = Setting.allCases.filter { $0.table == nil }.map(\.fileKey)
        let tables = Setting.tables.map { "[\($0)]" }
        return "not a brokerd setting; top-level keys are " + keys.joined(separator: ", ")
            + ", tables are " + tables.joined(separator: ", ")
    }

    private static func lineOrder(_ source: ConfigurationSource?) -> Int {
        if case .file(_, let line?) = source { line } else { .max }
    }
}

extension SettingValue {
    /// The TOML value, typed; arrays of anything but strings and other TOML types are `.unsupported`.
    fileprivate init(_ value: TOMLValueConvertible) {
        switch value.type {
        case .string: self = .string(value.string ?? "")
        case .int: self = .integer(value.int ?? 0)
        case .double: self = .float(value.double ?? .nan)
        case .bool: self = .boolean(value.bool ?? false)
        case .array:
            let elements = value.array.map { Array($0) } ?? []
            let strings = elements.compactMap(\.string)
            self = strings.count == elements.count ? .strings(strings) : .unsupported("array of non-strings")
        case .table: self = .unsupported("table")
        case .date, .time, .dateTime: self = .unsupported(value.type.description)
        }
    }
}
