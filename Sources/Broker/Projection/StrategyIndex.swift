/// Strategy signal lists, with the reverse map from code to the strategies that contain it.
///
/// Invariant: the reverse map holds no empty sets and strategies with an empty list are absent, so
/// equal contents compare equal regardless of history.
public struct StrategyIndex: Sendable, Equatable {
    private var signalsByStrategy: [String: [Signal]] = [:]
    private var strategiesByCode: [String: Set<String>] = [:]

    /// Creates an empty index.
    public init() {}

    /// The current signal list of `strategy` (empty when unknown).
    public func signals(of strategy: String) -> [Signal] {
        signalsByStrategy[strategy] ?? []
    }

    /// Strategies whose list contains `code`.
    public func strategies(containing code: String) -> Set<String> {
        strategiesByCode[code] ?? []
    }

    /// The name a signal list gives `code` (the first strategy by name that names it, other than by
    /// its code or an empty name; the last such signal of that list); nil when none does. Read only
    /// for a tick that leaves its name out and whose code no tick named.
    public func signalName(of code: String) -> String? {
        guard let containing = strategiesByCode[code] else { return nil }
        return containing.sorted().lazy.compactMap { strategy in
            self.signalsByStrategy[strategy]?.last { $0.code == code && !$0.name.isEmpty && $0.name != code }?.name
        }.first
    }

    /// Names of strategies with a non-empty list.
    public var strategyNames: Dictionary<String, [Signal]>.Keys {
        signalsByStrategy.keys
    }

    /// Replaces the list of `strategy`; an empty list removes the strategy.
    public mutating func replace(strategy: String, with signals: [Signal]) {
        if let old = signalsByStrategy[strategy] {
            for signal in old {
                strategiesByCode[signal.code]?.remove(strategy)
                if strategiesByCode[signal.code]?.isEmpty == true { strategiesByCode[signal.code] = nil }
            }
        }
        signalsByStrategy[strategy] = signals.isEmpty ? nil : signals
        for signal in signals {
            strategiesByCode[signal.code, default: []].insert(strategy)
        }
    }
}
