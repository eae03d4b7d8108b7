/// Turns commands into events: validates each against the current state and limits.
///
/// Pure: the same command, state and limits always give the same events or the same error, and a
/// refused command yields no events. An empty result is success with nothing to record (for
/// example subscribing to something already subscribed).
public enum Decider {
    /// The events that carry out `command`, or why it is refused.
    public static func decide(_ command: Command, state: Projection, limits: Limits) throws(BrokerError) -> [Event] {
        switch command {
        case .connect(let clientID, let user, let remoteAddress, let node, let resuming):
            return try connect(
                clientID: clientID, user: user, remoteAddress: remoteAddress, node: node, resuming: resuming, state, limits)
        case .disconnect(let clientID, let reason, let resumeDeadline):
            _ = try connectedClient(clientID, in: state)
            return [.clientDisconnected(ClientDisconnected(clientID: clientID, reason: reason, resumeDeadline: resumeDeadline))]
        case .expireSession(let clientID):
            guard let client = state.client(clientID) else { throw .unknownClient(clientID: clientID) }
            guard !client.isConnected else { throw .clientStillConnected(clientID: clientID) }
            // An anonymous session owns its alert rules under its id: nobody can list, remove or
            // receive them once it is gone, so they go with it (an authenticated user's stay).
            let orphaned = client.user == nil ? state.alerts.rules(ofUser: client.alertOwner).map(\.id).sorted() : []
            return orphaned.map { .alertRuleRemoved(AlertRuleRemoved(ruleID: $0, user: client.alertOwner)) }
                + [.sessionExpired(SessionExpired(clientID: clientID))]
        case .subscribe(let clientID, let subscription):
            return try subscribe(clientID: clientID, subscription, state, limits)
        case .unsubscribe(let clientID, let subscription):
            return try unsubscribe(clientID: clientID, subscription, state, limits)
        case .subscribeAll(let clientID, let subscriptions):
            return try subscribe(clientID: clientID, all: subscriptions, state, limits)
        case .unsubscribeAll(let clientID, let subscriptions):
            return try unsubscribe(clientID: clientID, all: subscriptions, state, limits)
        case .ingestTicks(let ticks):
            return try ingest(ticks, state, limits)
        case .ingestFromSource(let ticks, let source, let position):
            guard !source.isEmpty, !position.isEmpty else {
                throw .invalidRequest(field: "source", reason: "a source batch needs a source name and a position")
            }
            let events = ticks.isEmpty ? [] : try ingest(ticks, state, limits)
            return events + [.sourceAdvanced(SourceAdvanced(source: source, position: position))]
        case .ingestBar(let bar):
            try validate(bar)
            return [.klineUpdated(bar)]
        case .ingestBars(let bars):
            guard bars.count <= limits.maxBarsPerBatch else {
                throw .invalidRequest(field: "klines", reason: "\(bars.count) bars in one batch, the limit is \(limits.maxBarsPerBatch)")
            }
            for bar in bars { try validate(bar) }
            return bars.map { .klineUpdated($0) }
        case .publishNews(let item):
            return try publish(item, state, limits)
        case .setAlertRule(let rule):
            return try setAlertRule(rule, state, limits)
        case .removeAlertRule(let ruleID, let user):
            guard state.alerts.rule(id: ruleID)?.user == user else { throw .unknownAlertRule(ruleID: ruleID) }
            return [.alertRuleRemoved(AlertRuleRemoved(ruleID: ruleID, user: user))]
        case .triggerAlert(let ruleID, let price):
            guard let rule = state.alerts.rule(id: ruleID) else { throw .unknownAlertRule(ruleID: ruleID) }
            guard !state.alerts.isTriggered(ruleID) else { throw .alertAlreadyTriggered(ruleID: ruleID) }
            guard price.isFinite, price > 0 else {
                throw .invalidRequest(field: "price", reason: "must be a finite number greater than 0, got \(price)")
            }
            return [.alertTriggered(AlertTriggered(firing: rule, at: price))]
        case .replaceSignals(let strategy, let signals):
            return try replaceSignals(strategy: strategy, signals, state, limits)
        case .applyLogged(let update, let own, let source, let position):
            guard !source.isEmpty, !position.isEmpty else {
                throw .invalidRequest(field: "source", reason: "a logged update needs a source name and a position")
            }
            return try logged(update, own: own, state, limits) + [.sourceAdvanced(SourceAdvanced(source: source, position: position))]
        }
    }

    // MARK: The shared log

    /// The events of an update read from the shared log: what it changes, nothing when the state
    /// holds it already. Every node applies the log in its order, so the last update of a strategy
    /// or a rule in the log is what every node ends with, whichever node journaled what first.
    private static func logged(_ update: Command, own: Bool, _ state: Projection, _ limits: Limits) throws(BrokerError) -> [Event] {
        switch update {
        case .replaceSignals(let strategy, let signals):
            if state.strategies.signals(of: strategy) == signals { return [] }
        case .setAlertRule(let rule):
            try validate(rule, limits)
            // Another node's identical rule set again re-arms a fired one, as on that node; this
            // node's own echo must not re-arm what fired here since.
            if state.alerts.rule(id: rule.id) == rule && (own || !state.alerts.isTriggered(rule.id)) { return [] }
            // The checks of a node taking a new rule (the id another user's, the user's rule count)
            // were made where it was taken: here the log's order decides, or nodes would differ.
            return [.alertRuleSet(rule)]
        case .removeAlertRule(let ruleID, let user):
            if state.alerts.rule(id: ruleID)?.user != user { return [] }
        case .publishNews(let item):
            if state.containsNews(id: item.id) {
                // One id, two items (taken on two nodes at once): each node keeps the one it took
                // first, and an item already delivered is not taken back. Said, not hidden.
                if let kept = state.news.last(where: { $0.item.id == item.id })?.item, kept != item {
                    throw .duplicateNews(id: item.id)
                }
                return []
            }
        case .ingestBars(let bars):
            // This node's own were journaled when it took them.
            if own { return [] }
            // What the node has already, or a later bar of that code and period, is not taken
            // again (a log read twice, after it was off for a while).
            let newer = bars.filter { bar in
                guard let current = state.lastBars[BarKey(code: bar.code, period: bar.period)] else { return true }
                return current.start < bar.start || (current.start == bar.start && current != bar)
            }
            if newer.isEmpty { return [] }
            return try decide(.ingestBars(newer), state: state, limits: limits)
        default:
            throw .invalidRequest(field: "update", reason: "the shared log carries news, alert rules, signal lists and k-line bars only")
        }
        return try decide(update, state: state, limits: limits)
    }

    // MARK: Sessions

    private static func connect(
        clientID: String, user: String?, remoteAddress: String?, node: String, resuming: Bool, _ state: Projection,
        _ limits: Limits
    ) throws(BrokerError) -> [Event] {
        if let reason = FieldRules.identifierProblem(clientID, maxLength: limits.maxTargetLength) {
            throw .invalidClientID(clientID: clientID, reason: reason)
        }
        if let user, let reason = FieldRules.identifierProblem(user, maxLength: limits.maxTargetLength) {
            throw .invalidRequest(field: "user", reason: reason)
        }
        if let reason = FieldRules.identifierProblem(node, maxLength: limits.maxTargetLength) {
            throw .invalidRequest(field: "node", reason: reason)
        }
        // A resume needs the gone session (its window and user were checked by the caller); a new
        // session needs an id no session has, so it never takes over another's subscriptions.
        switch (state.client(clientID), resuming) {
        case (let existing?, _) where existing.isConnected:
            throw .clientAlreadyConnected(clientID: clientID)
        case (nil, true):
            throw .unknownClient(clientID: clientID)
        case (.some, false):
            throw .clientIDTaken(clientID: clientID)
        case (.some, true), (nil, false):
            break
        }
        return [.clientConnected(ClientConnected(clientID: clientID, user: user, remoteAddress: remoteAddress, node: node))]
    }

    private static func connectedClient(_ clientID: String, in state: Projection) throws(BrokerError) -> ClientRecord {
        guard let client = state.client(clientID) else { throw .unknownClient(clientID: clientID) }
        guard client.isConnected else { throw .clientNotConnected(clientID: clientID) }
        return client
    }

    // MARK: Subscriptions

    private static func subscribe(
        clientID: String, _ requested: Subscription, _ state: Projection, _ limits: Limits
    ) throws(BrokerError) -> [Event] {
        let client = try connectedClient(clientID, in: state)
        let subscription = try normalized(requested, for: client, limits)
        if state.subscriptions.contains(clientID: clientID, subscription: subscription) { return [] }
        guard state.subscriptions.subscriptions(of: clientID).count < limits.maxSubscriptionsPerClient else {
            throw .tooManySubscriptions(limit: limits.maxSubscriptionsPerClient)
        }
        return [.subscribed(SubscriptionChange(clientID: clientID, subscription: subscription))]
    }

    /// `subscribe` for several at once: each is checked as one would be, and the session's limit
    /// counts them all; one refused refuses them all.
    private static func subscribe(
        clientID: String, all requested: [Subscription], _ state: Projection, _ limits: Limits
    ) throws(BrokerError) -> [Event] {
        let client = try connectedClient(clientID, in: state)
        let held = state.subscriptions.subscriptions(of: clientID)
        var added: [Subscription] = []
        for subscription in requested {
            let subscription = try normalized(subscription, for: client, limits)
            if !held.contains(subscription) && !added.contains(subscription) { added.append(subscription) }
        }
        guard held.count + added.count <= limits.maxSubscriptionsPerClient else {
            throw .tooManySubscriptions(limit: limits.maxSubscriptionsPerClient)
        }
        return added.map { .subscribed(SubscriptionChange(clientID: clientID, subscription: $0)) }
    }

    /// `unsubscribe` for several at once: each must be held; one that is not refuses them all.
    private static func unsubscribe(
        clientID: String, all requested: [Subscription], _ state: Projection, _ limits: Limits
    ) throws(BrokerError) -> [Event] {
        let client = try connectedClient(clientID, in: state)
        var removed: [Subscription] = []
        for subscription in requested {
            let normalized = try normalized(subscription, for: client, limits)
            guard state.subscriptions.contains(clientID: clientID, subscription: normalized) else {
                throw .notSubscribed(subscription)
            }
            if !removed.contains(normalized) { removed.append(normalized) }
        }
        return removed.map { .unsubscribed(SubscriptionChange(clientID: clientID, subscription: $0)) }
    }

    private static func unsubscribe(
        clientID: String, _ requested: Subscription, _ state: Projection, _ limits: Limits
    ) throws(BrokerError) -> [Event] {
        let client = try connectedClient(clientID, in: state)
        let subscription = try normalized(requested, for: client, limits)
        guard state.subscriptions.contains(clientID: clientID, subscription: subscription) else {
            throw .notSubscribed(requested)
        }
        return [.unsubscribed(SubscriptionChange(clientID: clientID, subscription: subscription))]
    }

    /// Validates the target for its type and resolves `alerts`/`me` to the client's alert owner, so
    /// alert fan-out can find subscribers by user through the reverse index.
    private static func normalized(
        _ subscription: Subscription, for client: ClientRecord, _ limits: Limits
    ) throws(BrokerError) -> Subscription {
        let type = subscription.type
        let target = subscription.target
        if let reason = FieldRules.identifierProblem(target, maxLength: limits.maxTargetLength) {
            throw .invalidTarget(type: type, target: target, reason: reason)
        }
        switch type {
        case .strategy, .news:
            return subscription
        case .stock:
            guard FieldRules.isValidCode(target) else {
                throw .invalidTarget(
                    type: type, target: target, reason: "is not a stock code; use 1-16 letters, digits or dots, e.g. 600000")
            }
            return subscription
        case .market:
            guard Board(rawValue: target) != nil else {
                throw .invalidTarget(type: type, target: target, reason: "is not a board; use sh, sz or bj")
            }
            return subscription
        case .alerts:
            let owner = client.alertOwner
            guard target == "me" || target == owner else {
                throw .invalidTarget(type: type, target: target, reason: "is not you; use me to receive your own alerts")
            }
            return Subscription(type: .alerts, target: owner)
        }
    }

    // MARK: Market data

    /// One `price_ticked` per tick, each followed by the `alert_triggered` of every armed rule it
    /// meets: firings are decided here, in the same order and commit as the ticks, so a rule fires
    /// at the tick that crossed and re-arms at the tick that cleared, however the ticks are batched.
    private static func ingest(_ fed: [FedTick], _ state: Projection, _ limits: Limits) throws(BrokerError) -> [Event] {
        guard fed.count <= limits.maxTicksPerBatch else {
            throw .tooManyTicks(count: fed.count, limit: limits.maxTicksPerBatch)
        }
        for (index, tick) in fed.enumerated() {
            if let reason = problem(with: tick, limits) {
                throw .invalidTick(index: index, code: tick.code, reason: reason)
            }
        }
        let ticks = resolve(fed, in: state)
        let firings = state.alerts.firings(for: ticks, after: state.lastPrices)
        guard !firings.isEmpty else { return ticks.map { .priceTicked($0) } }
        var events: [Event] = []
        events.reserveCapacity(ticks.count + firings.count)
        var next = firings.startIndex
        for (index, tick) in ticks.enumerated() {
            events.append(.priceTicked(tick))
            while next < firings.endIndex, firings[next].tick == index {
                let rule = firings[next].rule
                events.append(.alertTriggered(AlertTriggered(firing: rule, at: tick.price)))
                next += 1
            }
        }
        return events
    }

    /// The ticks with what each left out taken from the latest tick of its code (an earlier one of
    /// the batch, else the projection's): the name, the cumulative volume, the previous close (also
    /// when sent as 0, unknown). A name no tick gave comes from the strategies' signal lists, else
    /// is the code; a volume or previous close never known is 0. Volume and previous close are the
    /// day's: from a tick of an earlier trading day (Asia/Shanghai), the volume is 0 (nothing known
    /// traded yet) and the previous close is that tick's price (the last price of a day before).
    /// Decided here rather than applied, so `price_ticked` holds the values and a replay reads them
    /// instead of guessing again.
    static func resolve(_ fed: [FedTick], in state: Projection) -> [PriceTick] {
        if fed.allSatisfy(\.isComplete) {
            return fed.map {
                PriceTick(code: $0.code, name: $0.name ?? $0.code, price: $0.price, volume: $0.volume ?? 0, prevClose: $0.prevClose ?? 0, timestamp: $0.timestamp)
            }
        }
        var latest: [String: PriceTick] = [:]
        return fed.map { tick in
            let known = latest[tick.code] ?? state.lastPrices[tick.code]
            // A known name that is the code (or empty) was a fallback: the signal lists may know better.
            let knownName = known.map(\.name).flatMap { $0.isEmpty || $0 == tick.code ? nil : $0 }
            let day = TradingCalendar.day(of: tick.timestamp)
            let knownDay = known.map { TradingCalendar.day(of: $0.timestamp) }
            let (knownVolume, knownPrevClose): (Int64?, Double?) = switch knownDay {
            case day?: (known?.volume, known?.prevClose)
            case let earlier? where earlier < day: (0, known?.price)
            default: (nil, nil)
            }
            let resolved = PriceTick(
                code: tick.code,
                name: tick.name ?? knownName ?? state.strategies.signalName(of: tick.code) ?? tick.code,
                price: tick.price,
                volume: tick.volume ?? knownVolume ?? 0,
                prevClose: tick.prevClose.flatMap { $0 == 0 ? nil : $0 } ?? knownPrevClose.flatMap { $0 == 0 ? nil : $0 } ?? 0,
                timestamp: tick.timestamp)
            latest[tick.code] = resolved
            return resolved
        }
    }

    /// Why the decider refuses `tick`, or nil when it accepts it; for sources that drop bad ticks
    /// one by one before handing over a batch (the decider refuses a batch as a whole). Only what
    /// the tick carries is checked: what it leaves out is filled in from accepted ticks.
    public static func problem(with tick: FedTick, _ limits: Limits) -> String? {
        if !FieldRules.isValidCode(tick.code) { return "has an invalid code; use 1-16 letters, digits or dots" }
        if let name = tick.name {
            if FieldRules.length(name) > limits.maxNameLength { return "has a name longer than \(limits.maxNameLength) characters" }
            if FieldRules.hasControlCharacters(name) { return "has control characters in its name" }
        }
        if let reason = FieldRules.timestampProblem(tick.timestamp) { return "has timestamp that \(reason)" }
        if let reason = FieldRules.priceProblem(tick.price) { return "has price \(tick.price); it \(reason)" }
        if let prevClose = tick.prevClose, prevClose != 0, let reason = FieldRules.priceProblem(prevClose) {
            return "has prev_close \(prevClose); it \(reason), or 0 (unknown)"
        }
        if let volume = tick.volume, volume < 0 { return "has negative volume \(volume)" }
        return nil
    }

    private static func validate(_ bar: KlineBar) throws(BrokerError) {
        func fail(_ reason: String) -> BrokerError { .invalidBar(code: bar.code, reason: reason) }
        guard FieldRules.isValidCode(bar.code) else { throw fail("has an invalid code; use 1-16 letters, digits or dots") }
        guard FieldRules.barPeriods.contains(bar.period) else {
            throw fail("has unknown period \(FieldRules.quoted(bar.period)); use one of \(FieldRules.barPeriods.sorted().joined(separator: ", "))")
        }
        for (name, value) in [("open", bar.open), ("high", bar.high), ("low", bar.low), ("close", bar.close)] {
            if let reason = FieldRules.priceProblem(value) { throw fail("has \(name) \(value); it \(reason)") }
        }
        guard bar.high >= max(bar.open, bar.close) else { throw fail("has high \(bar.high) below its open or close") }
        guard bar.low <= min(bar.open, bar.close) else { throw fail("has low \(bar.low) above its open or close") }
        guard bar.volume >= 0 else { throw fail("has negative volume \(bar.volume)") }
        if let reason = FieldRules.timestampProblem(bar.start) { throw fail("has start that \(reason)") }
        if let reason = FieldRules.barStartProblem(bar) { throw fail(reason) }
    }

    private static func publish(_ item: NewsItem, _ state: Projection, _ limits: Limits) throws(BrokerError) -> [Event] {
        func fail(_ reason: String) -> BrokerError { .invalidNews(id: item.id, reason: reason) }
        if let reason = FieldRules.identifierProblem(item.id, maxLength: limits.maxTargetLength) {
            throw fail("id \(reason)")
        }
        guard !item.title.allSatisfy(\.isWhitespace) else { throw fail("has an empty title") }
        if let reason = FieldRules.timestampProblem(item.publishedAt) { throw fail("has published_at that \(reason)") }
        for (name, value) in [("title", item.title), ("summary", item.summary), ("url", item.url)]
        where value.utf8.count > limits.maxNewsFieldBytes {
            throw fail("has a \(name) over \(limits.maxNewsFieldBytes) bytes")
        }
        // The category is what `news` subscriptions name, so it must be a usable target: an empty
        // one could only reach `all` (ingest routes default a missing category to `general`).
        if let reason = FieldRules.identifierProblem(item.category, maxLength: limits.maxTargetLength) {
            throw fail("category \(reason)")
        }
        guard item.codes.count <= limits.maxCodesPerNews else {
            throw fail("is tagged with \(item.codes.count) codes, the limit is \(limits.maxCodesPerNews)")
        }
        if let bad = item.codes.first(where: { !FieldRules.isValidCode($0) }) {
            throw fail("lists invalid code \(FieldRules.quoted(bad))")
        }
        guard !state.containsNews(id: item.id) else { throw .duplicateNews(id: item.id) }
        return [.newsPublished(item)]
    }

    // MARK: Alerts and signals

    private static func setAlertRule(_ rule: AlertRule, _ state: Projection, _ limits: Limits) throws(BrokerError) -> [Event] {
        try validate(rule, limits)
        if let existing = state.alerts.rule(id: rule.id) {
            guard existing.user == rule.user else { throw .alertRuleIDTaken(ruleID: rule.id) }
            // Setting an identical armed rule changes nothing; setting it again after it fired re-arms it.
            if existing == rule && !state.alerts.isTriggered(rule.id) { return [] }
        } else if state.alerts.ruleCount(ofUser: rule.user) >= limits.maxAlertRulesPerUser {
            throw .tooManyAlertRules(user: rule.user, limit: limits.maxAlertRulesPerUser)
        }
        return [.alertRuleSet(rule)]
    }

    /// Throws what makes `rule` unusable, whatever the state.
    private static func validate(_ rule: AlertRule, _ limits: Limits) throws(BrokerError) {
        func fail(_ reason: String) -> BrokerError { .invalidAlertRule(ruleID: rule.id, reason: reason) }
        if let reason = FieldRules.identifierProblem(rule.id, maxLength: limits.maxTargetLength) { throw fail("id \(reason)") }
        if let reason = FieldRules.identifierProblem(rule.user, maxLength: limits.maxTargetLength) { throw fail("user \(reason)") }
        guard FieldRules.isValidCode(rule.code) else { throw fail("has an invalid code; use 1-16 letters, digits or dots") }
        guard rule.threshold.isFinite else { throw fail("has threshold \(rule.threshold); it must be a finite number") }
        // A threshold no tick can cross either fires on the first tick and never re-arms, or never
        // fires: both hold one of the user's rules for nothing.
        switch rule.condition {
        case .above, .below:
            if let reason = FieldRules.priceProblem(rule.threshold) {
                throw fail("has \(rule.condition.rawValue) threshold \(rule.threshold); a price threshold \(reason)")
            }
        case .changePercent:
            guard rule.threshold > 0 && rule.threshold <= FieldRules.maxChangePercentThreshold else {
                throw fail(
                    "has change_pct threshold \(rule.threshold); it must be more than 0 and at most "
                        + "\(Int(FieldRules.maxChangePercentThreshold)) (percent, against the absolute change)")
            }
        }
    }

    private static func replaceSignals(
        strategy: String, _ signals: [Signal], _ state: Projection, _ limits: Limits
    ) throws(BrokerError) -> [Event] {
        func fail(_ reason: String) -> BrokerError { .invalidSignals(strategy: strategy, reason: reason) }
        if let reason = FieldRules.identifierProblem(strategy, maxLength: limits.maxTargetLength) {
            throw fail("strategy name \(reason)")
        }
        guard signals.count <= limits.maxSignalsPerStrategy else {
            throw fail("has \(signals.count) signals, the limit is \(limits.maxSignalsPerStrategy)")
        }
        var seen = Set<String>()
        for (index, signal) in signals.enumerated() {
            guard FieldRules.isValidCode(signal.code) else {
                throw fail("signal \(index) has invalid code \(FieldRules.quoted(signal.code))")
            }
            guard FieldRules.length(signal.name) <= limits.maxNameLength else {
                throw fail("signal \(index) has a name longer than \(limits.maxNameLength) characters")
            }
            guard !FieldRules.hasControlCharacters(signal.name) else { throw fail("signal \(index) has control characters in its name") }
            let date = signal.signalDate ?? ""
            guard FieldRules.length(date) <= limits.maxTargetLength, !FieldRules.hasControlCharacters(date) else {
                throw fail("signal \(index) has a signal_date over \(limits.maxTargetLength) characters or with control characters")
            }
            guard (signal.reason ?? "").utf8.count <= limits.maxSignalReasonBytes else {
                throw fail("signal \(index) has a reason over \(limits.maxSignalReasonBytes) bytes")
            }
            guard seen.insert(signal.code).inserted else {
                throw fail("list code \(signal.code) more than once; keep one signal per code")
            }
        }
        let previous = state.strategies.signals(of: strategy)
        if previous == signals { return [] }
        return [.signalsReplaced(SignalsReplaced(strategy: strategy, replacing: previous, with: signals))]
    }
}
