import Logging

typealias LogFormatSwitch = LogSwitch<LogFormat>

/// A handler that writes each line with the handler of the switch's format: `text` (swift-log's
/// `StreamLogHandler`) or `json` (`JSONLogHandler`). Both are given the logger's metadata, so a
/// line reads the same whichever format it is written in.
struct SwitchedFormatHandler<Text: LogHandler, JSON: LogHandler>: LogHandler {
    private var text: Text
    private var json: JSON
    private let formats: LogFormatSwitch

    init(text: Text, json: JSON, formats: LogFormatSwitch) {
        self.text = text
        self.json = json
        self.formats = formats
    }

    var logLevel: Logger.Level {
        get { text.logLevel }
        set {
            text.logLevel = newValue
            json.logLevel = newValue
        }
    }

    var metadata: Logger.Metadata {
        get { text.metadata }
        set {
            text.metadata = newValue
            json.metadata = newValue
        }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { text.metadataProvider }
        set {
            text.metadataProvider = newValue
            json.metadataProvider = newValue
        }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { text[metadataKey: key] }
        set {
            text[metadataKey: key] = newValue
            json[metadataKey: key] = newValue
        }
    }

    func log(event: LogEvent) {
        switch formats.value {
        case .text: text.log(event: event)
        case .json: json.log(event: event)
        }
    }
}

extension SwitchedFormatHandler where Text == StreamLogHandler, JSON == JSONLogHandler {
    /// Standard error's handler for `label`, in the switch's format.
    init(label: String, formats: LogFormatSwitch) {
        self.init(text: StreamLogHandler.standardError(label: label), json: JSONLogHandler(label: label), formats: formats)
    }
}
