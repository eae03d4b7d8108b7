extension Event {
    /// The event's payload as a value to encode on its own (`{"client_id":...}` without the kind).
    public var payload: any Encodable & Sendable {
        switch self {
        case .clientConnected(let p): p
        case .clientDisconnected(let p): p
        case .sessionExpired(let p): p
        case .subscribed(let p): p
        case .unsubscribed(let p): p
        case .priceTicked(let p): p
        case .klineUpdated(let p): p
        case .newsPublished(let p): p
        case .alertRuleSet(let p): p
        case .alertRuleRemoved(let p): p
        case .alertTriggered(let p): p
        case .signalsReplaced(let p): p
        case .sourceAdvanced(let p): p
        }
    }
}
