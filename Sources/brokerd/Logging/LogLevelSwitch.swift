import Logging
import Synchronization

/// The lowest level `brokerd serve` logs, read by every handler on every line, so that a reload
/// of `log_level` reaches all loggers at once (swift-log copies a handler, and its level, into each
/// `Logger`, and never asks the logging system again).
final class LogLevelSwitch: Sendable {
    private let raw: Atomic<Int>

    init(_ level: Logger.Level) {
        raw = Atomic(Self.index(of: level))
    }

    var level: Logger.Level {
        get { Logger.Level.allCases[raw.load(ordering: .relaxed)] }
        set { raw.store(Self.index(of: newValue), ordering: .relaxed) }
    }

    private static func index(of level: Logger.Level) -> Int {
        Logger.Level.allCases.firstIndex(of: level) ?? 0
    }
}

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
        get { ownLevel ?? levels.level }
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
