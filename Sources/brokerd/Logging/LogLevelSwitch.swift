import Logging
import Synchronization

/// A setting every log handler reads on every line, so that a reload reaches all loggers at once
/// (swift-log copies a handler, and its level, into each `Logger`, and never asks the logging
/// system again): the lowest level `brokerd serve` logs (`log_level`), the format it writes
/// (`log_format`).
final class LogSwitch<Value: CaseIterable & Equatable>: Sendable where Value.AllCases == [Value] {
    private let raw: Atomic<Int>

    init(_ value: Value) {
        raw = Atomic(Self.index(of: value))
    }

    var value: Value {
        get { Value.allCases[raw.load(ordering: .relaxed)] }
        set { raw.store(Self.index(of: newValue), ordering: .relaxed) }
    }

    private static func index(of value: Value) -> Int {
        Value.allCases.firstIndex(of: value) ?? 0
    }
}

typealias LogLevelSwitch = LogSwitch<Logger.Level>

/// A handler whose level is the switch's, unless its logger set one of its own (as the console's
/// file server quiets its logger to warnings): that one stays.
struct SwitchedLevelHandler<Base: LogHandler>: LogHandler {
    private var base: Base
    private let levels: LogLevelSwitch
    private var ownLevel: Logger.Level?

    init(_ base: Base, levels: LogLevelSwitch) {
        self.base = base
        self.levels = levels
    }

    var logLevel: Logger.Level {
        get { ownLevel ?? levels.value }
        set { ownLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { base.metadataProvider }
        set { base.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        base.log(event: event)
    }
}
