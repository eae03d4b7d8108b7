import Foundation
import Journal
import Logging
import NIOCore
import Synchronization

/// A swift-log handler writing one JSON object per line to standard error (`log_format = "json"`),
/// for log shippers (Vector, Promtail, Fluent Bit) that read fields instead of parsing text:
/// `time` (UTC, microseconds, as the wire's timestamps), `level`, `label`, `message`, then the
/// metadata (the logger's, its provider's, the call's) as fields of their own, by name.
///
/// swift-log ships only its text handler, and none of the packages this machine offers writes JSON.
struct JSONLogHandler: LogHandler {
    /// The fields every line starts with; metadata of the same name is written as `meta_<name>`.
    static let fixedFields: Set<String> = ["time", "level", "label", "message"]

    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// Lines from all threads go out whole, one `write` each, in the order they were made.
    private static let output = Mutex(FileHandle.standardError)

    init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        if let error = event.error, merged["error"] == nil { merged["error"] = "\(error)" }
        let text = Self.line(
            time: WallClock.microsecondsNow(), level: event.level, label: label, message: event.message.description, metadata: merged)
        // Not `write(_:)`, which stops the process when the write fails (a closed pipe): a log line
        // lost is better than a broker lost.
        Self.output.withLock { try? $0.write(contentsOf: Data(text.utf8)) }
    }

    /// One log line: the JSON object and its newline. Metadata fields are sorted by name.
    static func line(time: Int64, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var json = JSONBytes(capacity: 256)
        json.raw(#"{"time":"#)
        json.string(WireTime.format(microseconds: time))
        json.raw(#","level":"#)
        json.string(level.rawValue)
        json.raw(#","label":"#)
        json.string(label)
        json.raw(#","message":"#)
        json.string(message)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            json.raw(",")
            json.string(fixedFields.contains(key) ? "meta_" + key : key)
            json.raw(":")
            write(value, into: &json)
        }
        json.raw("}\n")
        return String(buffer: json.buffer)
    }

    /// A metadata value: strings as strings, arrays and dictionaries as JSON arrays and objects,
    /// and a number or a flag given as a value (`.stringConvertible(count)`, not `"\(count)"`) as
    /// a JSON number or boolean, so that a log shipper can sum and compare it.
    private static func write(_ value: Logger.Metadata.Value, into json: inout JSONBytes) {
        switch value {
        case .string(let text):
            json.string(text)
        case .stringConvertible(let convertible):
            switch convertible {
            case let number as Int: json.integer(number)
            case let number as Int64: json.integer(number)
            case let number as UInt64: json.integer(number)
            case let number as Int32: json.integer(number)
            case let number as UInt32: json.integer(number)
            case let number as UInt: json.integer(number)
            case let number as Double where number.isFinite: json.number(number)
            case let flag as Bool: json.raw(flag ? "true" : "false")
            default: json.string(convertible.description)
            }
        case .array(let values):
            json.raw("[")
            for (index, element) in values.enumerated() {
                if index > 0 { json.raw(",") }
                write(element, into: &json)
            }
            json.raw("]")
        case .dictionary(let fields):
            json.raw("{")
            for (index, (key, element)) in fields.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { json.raw(",") }
                json.string(key)
                json.raw(":")
                write(element, into: &json)
            }
            json.raw("}")
        }
    }
}
