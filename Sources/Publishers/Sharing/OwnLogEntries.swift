import Synchronization

/// The newest entry this process appended to the shared log for each strategy's list and each
/// alert rule, until it reads that entry back.
///
/// A node applies its own entries again only where another node's write came between (see
/// `Command.applyLogged`), judged against its state as it reads them. Two writes of one key in
/// quick succession would then bring the older one back for a moment when it is read (the state
/// holds the newer one, so the older looks like news): an older own entry of a key this process
/// has written again since is skipped instead, and the newer one, read later, decides.
public final class OwnLogEntries: Sendable {
    private let newest = Mutex<[String: StreamID]>([:])

    public init() {}

    /// Records that `update` was appended to the log as entry `id`.
    func appended(_ update: SharedUpdate, id: String) {
        guard let key = update.logKey, let id = StreamID(id) else { return }
        newest.withLock { newest in
            if let known = newest[key], known >= id { return }
            newest[key] = id
        }
    }

    /// Whether this process appended a newer entry for `update`'s key than `id`, which it is
    /// reading back now; forgets the key once its newest entry is read back.
    func isSuperseded(_ update: SharedUpdate, at id: String) -> Bool {
        guard let key = update.logKey, let read = StreamID(id) else { return false }
        return newest.withLock { newest in
            guard let known = newest[key] else { return false }
            if known > read { return true }
            newest[key] = nil
            return false
        }
    }

    /// How many keys wait for their newest entry to be read back.
    var pending: Int { newest.withLock { $0.count } }
}

extension SharedUpdate {
    /// What a later update of the same kind replaces: a strategy's list, a rule; nil for what
    /// is not replaced by key (news items, bars, ticks).
    var logKey: String? {
        switch self {
        case .signalsReplaced(let strategy, _): "signals:" + strategy
        case .alertRuleSet(let rule): "rule:" + rule.id
        case .alertRuleRemoved(let ruleID, _): "rule:" + ruleID
        case .ticks, .news, .bars: nil
        }
    }
}
