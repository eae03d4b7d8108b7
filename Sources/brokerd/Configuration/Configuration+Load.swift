import Foundation

extension Configuration {
    /// The config file read when neither `--config` nor `BROKERD_CONFIG` names one, if it exists.
    public static let defaultFilePath = "Config/brokerd.toml"

    /// The environment variable naming the config file.
    public static let fileEnvironmentName = "BROKERD_CONFIG"

    /// Resolves the configuration of this process: its flags, its environment and the config file they name.
    public static func load(
        flags: ServeOptions,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> Configuration {
        try loadWithFile(flags: flags, environment: environment).configuration
    }

    /// What `load` resolves, with the config file it read (nil: none) and where each setting's
    /// value came from (a setting left out took its default): what `brokerd config` shows.
    static func loadWithSources(
        flags: ServeOptions,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigurationError) -> (configuration: Configuration, filePath: String?, sources: [Setting: ConfigurationSource]) {
        let (configuration, path, contents) = try loadWithFile(flags: flags, environment: environment)
        // The file is read and parsed again only here: it resolved above.
        let fileEntries = contents.flatMap { try? ConfigurationFile.entries(in: $0, path: path ?? defaultFilePath) }
        var sources: [Setting: ConfigurationSource] = [:]
        for setting in Setting.allCases {
            sources[setting] = winningEntry(for: setting, flags: flags, environment: environment, fileEntries: fileEntries)?.source
        }
        return (configuration, path, sources)
    }

    /// `load`, with the config file's path and text.
    private static func loadWithFile(
        flags: ServeOptions, environment: [String: String]
    ) throws(ConfigurationError) -> (configuration: Configuration, filePath: String?, contents: String?) {
        let path = try filePath(
            flags: flags, environment: environment, fileExists: { FileManager.default.fileExists(atPath: $0) })
        var contents: String?
        if let path {
            do {
                contents = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw .unreadableFile(path: path, reason: "\(error.localizedDescription)")
            }
        }
        var configuration = try resolve(flags: flags, environment: environment, fileContents: contents, filePath: path)
        try configuration.checkSignalsFile(flags: flags, environment: environment, fileContents: contents, filePath: path)
        try configuration.checkSentinels(flags: flags, environment: environment, fileContents: contents, filePath: path)
        try configuration.readPublicKey(flags: flags, environment: environment, fileContents: contents, filePath: path)
        return (configuration, path, contents)
    }

    /// Reads the issuer's public key `jwt_public_key` names (relative paths from the working
    /// directory): a file that is not there or holds no key the broker takes stops start-up (and
    /// fails a reload) with one line, not every client's connect after it listens.
    mutating func readPublicKey(
        flags: ServeOptions, environment: [String: String], fileContents: String?, filePath: String?
    ) throws(ConfigurationError) {
        guard let path = auth.jwtPublicKeyPath else { return }
        do throws(SettingRejection) {
            let pem: String
            do {
                pem = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw SettingRejection(
                    FileManager.default.fileExists(atPath: path) ? "cannot be read: \(error.localizedDescription)" : Self.noSuchFile(path))
            }
            auth.jwtPublicKey = try JWTPublicKey(path: path, pem: pem)
        } catch {
            let entry = Self.winningEntry(for: .jwtPublicKey, flags: flags, environment: environment, fileContents: fileContents, filePath: filePath)
            throw .invalidValue(
                setting: entry?.displayName ?? Setting.jwtPublicKey.name, value: path,
                source: entry?.source ?? .flag("--jwt-public-key"), reason: error.reason)
        }
    }

    /// "no such file", saying where a relative path was looked for.
    private static func noSuchFile(_ path: String) -> String {
        path.hasPrefix("/") ? "no such file" : "no such file in the working directory, \(FileManager.default.currentDirectoryPath)"
    }

    /// The entry whose value `setting` took: the last flag, else the environment, else the file's.
    private static func winningEntry(
        for setting: Setting, flags: ServeOptions, environment: [String: String], fileContents: String?, filePath: String?
    ) -> SettingEntry? {
        let fileEntries = fileContents.flatMap { try? ConfigurationFile.entries(in: $0, path: filePath ?? defaultFilePath) }
        return winningEntry(for: setting, flags: flags, environment: environment, fileEntries: fileEntries)
    }

    private static func winningEntry(
        for setting: Setting, flags: ServeOptions, environment: [String: String], fileEntries: [SettingEntry]?
    ) -> SettingEntry? {
        let name = setting.environmentName
        return flags.entries.last { $0.setting == setting }
            ?? environment[name].map { SettingEntry(setting: setting, value: .text($0), source: .environment(name)) }
            ?? fileEntries?.last { $0.setting == setting }
    }

    /// A signals file named explicitly must be there (relative paths from the working directory)
    /// when the simulator will read it: a typo would otherwise surface only as a warning once the
    /// broker serves. One that is there but cannot be used is found when it is read. Checked on
    /// the value that wins, after the sources are merged: whether it exists depends on where the
    /// broker runs, unlike what `resolve` checks.
    func checkSignalsFile(
        flags: ServeOptions, environment: [String: String], fileContents: String?, filePath: String?
    ) throws(ConfigurationError) {
        guard simulator.isEnabled, redis.url == nil, let signals = simulator.signalsPath else { return }
        var isDirectory: ObjCBool = false
        let problem: String
        if !FileManager.default.fileExists(atPath: signals, isDirectory: &isDirectory) {
            problem = Self.noSuchFile(signals)
        } else if isDirectory.boolValue {
            problem = "is a directory, not a signals file"
        } else {
            return
        }
        let entry = Self.winningEntry(
            for: .simulatorSignals, flags: flags, environment: environment, fileContents: fileContents, filePath: filePath)
        throw .invalidValue(
            setting: entry?.displayName ?? Setting.simulatorSignals.name, value: entry.map { Setting.simulatorSignals.display($0.value) } ?? signals,
            source: entry?.source ?? .flag("--simulator-signals"), reason: problem)
    }

    /// Sentinels come with the name they know the master by and with `redis_url` (the master's
    /// user, password and database), and the name with sentinels: checked on the values that win,
    /// after the sources are merged, since each may come from another.
    func checkSentinels(
        flags: ServeOptions, environment: [String: String], fileContents: String?, filePath: String?
    ) throws(ConfigurationError) {
        let problem: (Setting, String)? =
            if !redis.sentinels.isEmpty && redis.sentinelMaster == nil {
                (.redisSentinels, "needs redis_sentinel_master, the name the sentinels monitor the master under")
            } else if !redis.sentinels.isEmpty && redis.url == nil {
                (.redisSentinels, "needs redis_url: its user, password and database are the master's (its host and port serve until a sentinel answers)")
            } else if redis.sentinelMaster != nil && redis.sentinels.isEmpty {
                (.redisSentinelMaster, "needs redis_sentinels, the sentinels to ask for it")
            } else {
                nil
            }
        guard let (setting, reason) = problem else { return }
        let entry = Self.winningEntry(for: setting, flags: flags, environment: environment, fileContents: fileContents, filePath: filePath)
        throw .invalidValue(
            setting: entry?.displayName ?? setting.name, value: entry.map { setting.display($0.value) } ?? (value(of: setting) ?? ""),
            source: entry?.source ?? .flag("--\(setting.flagName)"), reason: reason)
    }

    /// `BROKERD_*` variables that name no setting (a typo such as `BROKERD_PROT`), sorted; worth a warning
    /// at start-up. They are not errors, so scripts may set variables of their own under the prefix.
    public static func unrecognizedEnvironmentNames(in environment: [String: String]) -> [String] {
        let known = Set(Setting.allCases.map(\.environmentName) + [fileEnvironmentName])
        return environment.keys.filter { $0.hasPrefix("BROKERD_") && !known.contains($0) }.sorted()
    }

    /// Which config file to read: `--config`, else `BROKERD_CONFIG`, else the default when it exists; nil for none.
    ///
    /// A file named explicitly must exist; only the default may be silently absent.
    static func filePath(
        flags: ServeOptions,
        environment: [String: String],
        fileExists: (String) -> Bool
    ) throws(ConfigurationError) -> String? {
        let named: (path: String, source: ConfigurationSource)? =
            if let path = flags.config {
                (path, .flag("--config"))
            } else if let path = environment[fileEnvironmentName] {
                (path, .environment(fileEnvironmentName))
            } else {
                nil
            }
        if let named {
            guard !named.path.isEmpty, fileExists(named.path) else {
                throw .missingFile(path: named.path, source: named.source)
            }
            return named.path
        }
        return fileExists(defaultFilePath) ? defaultFilePath : nil
    }
}
