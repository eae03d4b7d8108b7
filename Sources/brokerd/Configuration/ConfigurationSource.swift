/// Where one configuration value came from, as the operator would look for it.
public enum ConfigurationSource: Sendable, Equatable, CustomStringConvertible {
    /// A `brokerd serve` flag, e.g. `--port`.
    case flag(String)
    /// An environment variable, e.g. `BROKERD_PORT`.
    case environment(String)
    /// The TOML config file, with the line when it is known.
    case file(path: String, line: Int?)

    /// The source as the operator would name it: a flag, a variable, or `path:line`.
    public var description: String {
        switch self {
        case .flag(let name): name
        case .environment(let name): name
        case .file(let path, let line?): "\(path):\(line)"
        case .file(let path, nil): path
        }
    }
}
