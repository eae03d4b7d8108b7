import ArgumentParser
import Foundation

/// `brokerd config`: resolves the configuration `brokerd serve` would run with (the same flags,
/// `BROKERD_*` variables and file) without starting anything, and prints each setting with where
/// its value came from; or the one line start-up would stop with (exit 2). Check a file before
/// a `systemctl reload`, as with `nginx -t`.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check the configuration brokerd serve would run with, and show where each value comes from.",
        discussion: "Takes the flags of brokerd serve. Exit 0: it resolves; 2: it does not (one line on stderr says why).")

    @Flag(name: .customLong("json"), help: "Print one JSON object: {\"file\", \"settings\": {name: {\"value\", \"source\"}}}.")
    var json = false

    @OptionGroup var options: ServeOptions

    func run() throws {
        let loaded: (configuration: Configuration, filePath: String?, sources: [Setting: ConfigurationSource])
        do {
            loaded = try Configuration.loadWithSources(flags: options)
        } catch {
            FileHandle.standardError.write(Data("brokerd: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let rows = Setting.allCases.map { setting in
            Row(name: setting.name, value: loaded.configuration.shownValue(of: setting), source: loaded.sources[setting]?.description ?? "default")
        }
        if json {
            print(String(decoding: JSONResponse.encode(Body(file: loaded.filePath, settings: Dictionary(uniqueKeysWithValues: rows.map { ($0.name, $0) }))), as: UTF8.self))
        } else {
            print(Self.text(rows, file: loaded.filePath))
        }
    }

    struct Row: Encodable {
        let name: String
        /// As a flag gives it; a secret only as "set"; nil when not set.
        let value: String?
        /// A flag, a variable, `path:line`, or `default`.
        let source: String

        enum CodingKeys: String, CodingKey { case value, source }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(value, forKey: .value)
            try container.encode(source, forKey: .source)
        }
    }

    struct Body: Encodable {
        let file: String?
        let settings: [String: Row]

        enum CodingKeys: String, CodingKey { case file, settings }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(file, forKey: .file)
            try container.encode(settings, forKey: .settings)
        }
    }

    /// `configuration ok (file: …)`, then `name = value` and its source, aligned.
    static func text(_ rows: [Row], file: String?) -> String {
        let lefts = rows.map { "\($0.name) = \($0.value ?? "(not set)")" }
        let width = min(60, lefts.map(\.count).max() ?? 0)
        var lines = ["configuration ok (config file: \(file ?? "none"))"]
        for (left, row) in zip(lefts, rows) {
            lines.append(left.padding(toLength: max(width, left.count), withPad: " ", startingAt: 0) + "  # " + row.source)
        }
        return lines.joined(separator: "\n")
    }
}
