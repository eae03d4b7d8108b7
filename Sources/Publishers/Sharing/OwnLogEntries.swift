import Synchronization

/// How many entries this process appended to the shared log for each strategy's list and each
/// alert rule and has not read back yet.
///
/// A node applies its own entries again only where another node's write came between (see
/// `Command.applyLogged`), judged against its state as it reads them. Two writes of one key in
/// quick succession would then bring the older one back for a moment when it is read (the state
/// holds the newer one, so the older looks like news): an own entry of a key with a newer own
/// entry still to be read is skipped instead, and the newest, read last, decides.
///
/// Counted when the update is queued for Redis, in the order this node journaled it, so the log's
/// reader never reads an entry before it is counted, nor the last of a key's entries while a newer
/// write of it waits in the queue; an update dropped from the queue or an append that did not go
/// through (refused, or the connection lost before the answer, which may or may not have appended
/// it) is taken back, so a count never waits for an entry that is not coming: at worst an older
/// entry is applied for a moment.
public final class OwnLogEntries: Sendable {
    private let unread = Mutex<[String: Int]>([:])

    public init() {}

    /// Notes that `update` is on its way to the log; call when it is queued.
    func appending(_ update: SharedUpdate) {
        guard let key = update.logKey else { return }
        unread.withLock { $0[key, default: 0] += 1 }
    }

    /// Takes back an `appending` whose XADD did not, or may not, have appended it.
    func notAppended(_ update: SharedUpdate) {
        guard let key = update.logKey else { return }
        unread.withLock { Self.decrement(key, in: &$0) }
    }

    /// Notes that this process's entry for `update` was read back; true when a newer one of the
    /// same key is still to be read, so this one is superseded.
    func readBack(_ update: SharedUpdate) -> Bool {
        guard let key = update.logKey else { return false }
        return unread.withLock { unread in
            Self.decrement(key, in: &unread)
            return unread[key] != nil
        }
    }

    /// Whether an own entry of `update`'s key is on its way or in the log and not read back yet.
    public func hasUnread(_ update: SharedUpdate) -> Bool {
        guard let key = update.logKey else { return false }
        return unread.withLock { $0[key] != nil }
    }

    /// How many keys have own entries still to be read back.
    var pending: Int { unread.withLock { $0.count } }

    private static func decrement(_ key: String, in unread: inout [String: Int]) {
        guard let count = unread[key] else { return }
        unread[key] = count > 1 ? count - 1 : nil
    }
}

extension SharedUpdate {
    /// What a later update of the same kind replaces: a strategy's list, a rule; nil for what
    /// is not replaced by key (news items, bars, ticks).
    var logKey: String? {
        switch self {
        case .signalsReplaced(let strategy, _): "signals:" + strategy
        case .alertRuleSet(let rule): "rule:" + rule.id
        case .alertRuleRemoved(let ruleID, _): "rule:" + ruleID
        case .ticks, .news, .bars, .userRemoved, .userRemovalAnswered, .sessionRemoved, .sessionRemovalAnswered, .sessionLookedUp,
            .sessionLookupAnswered, .nodeHeartbeat:
            nil
        }
    }
}
