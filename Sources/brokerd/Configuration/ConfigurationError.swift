/// A setting that stops start-up; `description` is the one line to print.
public enum ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A known setting with a value it cannot take.
    case invalidValue(setting: String, value: String, source: ConfigurationSource, reason: String)
    /// A key in the config file that is not a setting.
    case unknownSetting(key: String, source: ConfigurationSource, hint: String)
    /// The config file is not valid TOML.
    case malformedFile(path: String, line: Int?, column: Int?, reason: String)
    /// A config file named by `--config` or `BROKERD_CONFIG` that does not exist.
    case missingFile(path: String, source: ConfigurationSource)
    /// A config file that exists but cannot be read.
    case unreadableFile(path: String, reason: String)

    /// The setting (or file key) at fault, as the operator wrote it.
    public var setting: String? {
        switch self {
        case .invalidValue(let setting, _, _, _): setting
        case .unknownSetting(let key, _, _): key
        case .malformedFile, .unreadableFile: nil
        case .missingFile: "config"
        }
    }

    /// Where the offending value came from.
    public var source: ConfigurationSource? {
        switch self {
        case .invalidValue(_, _, let source, _), .unknownSetting(_, let source, _), .missingFile(_, let source):
            source
        case .malformedFile(let path, let line, _, _): .file(path: path, line: line)
        case .unreadableFile(let path, _): .file(path: path, line: nil)
        }
    }

    /// The one line to print when start-up stops.
    public var description: String {
        switch self {
        case .invalidValue(let setting, let value, let source, let reason):
            "invalid setting \(setting)=\(value) (from \(source)): \(reason)"
        case .unknownSetting(let key, let source, let hint):
            "unknown setting \(key) (from \(source)): \(hint)"
        case .malformedFile(let path, let line, let column, let reason):
            "invalid config file \(path)\(line.map { ":\($0)" } ?? "")\(column.map { ":\($0)" } ?? ""): \(reason)"
        case .missingFile(let path, let source):
            "invalid setting config=\(path) (from \(source)): no such file"
        case .unreadableFile(let path, let reason):
            "cannot read config file \(path): \(reason)"
        }
    }
}
