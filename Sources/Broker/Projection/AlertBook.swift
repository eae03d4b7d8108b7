/// Alert rules indexed by id, code and user, with each rule's armed/triggered state.
///
/// Indexed by code so evaluating a tick touches only that code's rules. Invariant: no index keeps
/// an empty set, and `triggered` holds only ids of existing rules.
public struct AlertBook: Sendable, Equatable {
    private var rulesByID: [String: AlertRule] = [:]
    private var ruleIDsByCode: [String: Set<String>] = [:]
    private var ruleIDsByUser: [String: Set<String>] = [:]
    private var triggered: Set<String> = []

    /// Creates an empty book.
    public init() {}

    /// Number of rules.
    public var count: Int { rulesByID.count }

    /// Whether there is no rule.
    public var isEmpty: Bool { rulesByID.isEmpty }

    /// All rules by id.
    public var rules: [String: AlertRule] { rulesByID }

    /// The rule with `id`.
    public func rule(id: String) -> AlertRule? {
        rulesByID[id]
    }

    /// Whether the rule fired and has not been re-armed since.
    public func isTriggered(_ id: String) -> Bool {
        triggered.contains(id)
    }

    /// The rules of `user`, sorted by id.
    public func rules(ofUser user: String) -> [AlertRule] {
        (ruleIDsByUser[user] ?? []).sorted().compactMap { rulesByID[$0] }
    }

    /// Number of rules owned by `user`.
    public func ruleCount(ofUser user: String) -> Int {
        ruleIDsByUser[user]?.count ?? 0
    }

    /// The rules watching `code`, sorted by id.
    public func rules(ofCode code: String) -> [AlertRule] {
        (ruleIDsByCode[code] ?? []).sorted().compactMap { rulesByID[$0] }
    }

    /// Armed rules of the tick's code whose condition the tick meets, sorted by id.
    public func rulesToTrigger(for tick: PriceTick) -> [AlertRule] {
        guard let ids = ruleIDsByCode[tick.code] else { return [] }
        var due: [AlertRule] = []
        for id in ids where !triggered.contains(id) {
            if let rule = rulesByID[id], rule.isMet(by: tick) { due.append(rule) }
        }
        return due.sorted { $0.id < $1.id }
    }

    /// Adds or replaces a rule; it starts armed.
    public mutating func set(_ rule: AlertRule) {
        if rulesByID[rule.id] != nil { remove(id: rule.id) }
        rulesByID[rule.id] = rule
        ruleIDsByCode[rule.code, default: []].insert(rule.id)
        ruleIDsByUser[rule.user, default: []].insert(rule.id)
    }

    /// Removes a rule; returns false when there was none with that id.
    @discardableResult
    public mutating func remove(id: String) -> Bool {
        guard let rule = rulesByID.removeValue(forKey: id) else { return false }
        ruleIDsByCode[rule.code]?.remove(id)
        if ruleIDsByCode[rule.code]?.isEmpty == true { ruleIDsByCode[rule.code] = nil }
        ruleIDsByUser[rule.user]?.remove(id)
        if ruleIDsByUser[rule.user]?.isEmpty == true { ruleIDsByUser[rule.user] = nil }
        triggered.remove(id)
        return true
    }

    /// Marks a rule fired so it stays quiet until re-armed; unknown ids are ignored.
    public mutating func markTriggered(_ id: String) {
        if rulesByID[id] != nil { triggered.insert(id) }
    }

    /// Re-arms the triggered rules of the tick's code whose condition no longer holds, and its
    /// change-percent rules at the code's first tick of a trading day (`previous`, the code's tick
    /// before this one, is of an earlier day in Asia/Shanghai): they measure the change from the
    /// day's previous close, so yesterday's firing says nothing about today's move.
    public mutating func rearm(for tick: PriceTick, after previous: PriceTick?) {
        guard !triggered.isEmpty, let ids = ruleIDsByCode[tick.code] else { return }
        let newDay = Self.startsTradingDay(tick, after: previous?.timestamp)
        for id in ids where triggered.contains(id) {
            guard let rule = rulesByID[id] else { continue }
            if rule.verdict(on: tick) == false || (newDay && rule.condition == .changePercent) { triggered.remove(id) }
        }
    }

    /// Whether `tick` is its code's first of a trading day, the code's previous tick being stamped
    /// `previous` (nil: none known, so nothing to compare).
    static func startsTradingDay(_ tick: PriceTick, after previous: Int64?) -> Bool {
        guard let previous else { return false }
        return TradingCalendar.day(of: tick.timestamp) > TradingCalendar.day(of: previous)
    }

    /// The firings a batch of ticks causes, tick by tick: a rule fires on the first tick that
    /// meets it while armed, and is armed again by a later tick that does not meet it — within
    /// the batch too, as applying the batch's events one by one will do. Returns, per tick index,
    /// the rules it fires, sorted by id. Only the rules of the ticks' codes are looked at.
    /// `previous` holds each code's latest tick before the batch (the projection's), for the
    /// re-arming of change-percent rules on a new trading day (`rearm(for:after:)`).
    public func firings(for ticks: [PriceTick], after previous: [String: PriceTick] = [:]) -> [(tick: Int, rule: AlertRule)] {
        guard !rulesByID.isEmpty else { return [] }
        // When each code with rules last ticked within the batch.
        var lastSeen: [String: Int64] = [:]
        var firings: [(tick: Int, rule: AlertRule)] = []
        // Rules whose state the batch changed so far: true = triggered, false = armed. (A single
        // tick looks at each rule once, so it needs no record of what it changed.)
        var changed: [String: Bool] = [:]
        let remembers = ticks.count > 1
        for (index, tick) in ticks.enumerated() {
            guard let ids = ruleIDsByCode[tick.code] else { continue }
            let firstOfTick = firings.count
            let newDay = Self.startsTradingDay(tick, after: lastSeen[tick.code] ?? previous[tick.code]?.timestamp)
            if remembers { lastSeen[tick.code] = tick.timestamp }
            for id in ids {
                guard let rule = rulesByID[id] else { continue }
                var isTriggered = (changed.isEmpty ? nil : changed[id]) ?? triggered.contains(id)
                if isTriggered, newDay, rule.condition == .changePercent {
                    isTriggered = false
                    if remembers { changed[id] = false }
                }
                guard let met = rule.verdict(on: tick) else { continue }
                if met && !isTriggered {
                    firings.append((index, rule))
                    if remembers { changed[id] = true }
                } else if !met && isTriggered && remembers {
                    changed[id] = false
                }
            }
            // A tick's firings in rule id order (sorting the few that fired, not every rule).
            if firings.count - firstOfTick > 1 { firings[firstOfTick...].sort { $0.rule.id < $1.rule.id } }
        }
        return firings
    }
}
