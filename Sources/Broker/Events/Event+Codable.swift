/// JSON shape `{"kind":"price_ticked","payload":{...}}`, used by the HTTP API and `journal dump`.
///
/// Hand-written because the synthesized form (`{"priceTicked":{"_0":...}}`) leaks Swift names.
extension Event: Codable {
    enum CodingKeys: String, CodingKey {
        case kind
        case payload
    }

    /// Decodes `{"kind":..., "payload":...}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let name = try container.decode(String.self, forKey: .kind)
        guard let kind = EventKind(name: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: container, debugDescription: "unknown event kind '\(name)'")
        }
        switch kind {
        case .clientConnected: self = .clientConnected(try container.decode(ClientConnected.self, forKey: .payload))
        case .clientDisconnected:
            self = .clientDisconnected(try container.decode(ClientDisconnected.self, forKey: .payload))
        case .sessionExpired: self = .sessionExpired(try container.decode(SessionExpired.self, forKey: .payload))
        case .subscribed: self = .subscribed(try container.decode(SubscriptionChange.self, forKey: .payload))
        case .unsubscribed: self = .unsubscribed(try container.decode(SubscriptionChange.self, forKey: .payload))
        case .priceTicked: self = .priceTicked(try container.decode(PriceTick.self, forKey: .payload))
        case .klineUpdated: self = .klineUpdated(try container.decode(KlineBar.self, forKey: .payload))
        case .newsPublished: self = .newsPublished(try container.decode(NewsItem.self, forKey: .payload))
        case .alertRuleSet: self = .alertRuleSet(try container.decode(AlertRule.self, forKey: .payload))
        case .alertRuleRemoved: self = .alertRuleRemoved(try container.decode(AlertRuleRemoved.self, forKey: .payload))
        case .alertTriggered: self = .alertTriggered(try container.decode(AlertTriggered.self, forKey: .payload))
        case .signalsReplaced: self = .signalsReplaced(try container.decode(SignalsReplaced.self, forKey: .payload))
        case .sourceAdvanced: self = .sourceAdvanced(try container.decode(SourceAdvanced.self, forKey: .payload))
        }
    }

    /// Encodes `{"kind":..., "payload":...}`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind.name, forKey: .kind)
        switch self {
        case .clientConnected(let p): try container.encode(p, forKey: .payload)
        case .clientDisconnected(let p): try container.encode(p, forKey: .payload)
        case .sessionExpired(let p): try container.encode(p, forKey: .payload)
        case .subscribed(let p): try container.encode(p, forKey: .payload)
        case .unsubscribed(let p): try container.encode(p, forKey: .payload)
        case .priceTicked(let p): try container.encode(p, forKey: .payload)
        case .klineUpdated(let p): try container.encode(p, forKey: .payload)
        case .newsPublished(let p): try container.encode(p, forKey: .payload)
        case .alertRuleSet(let p): try container.encode(p, forKey: .payload)
        case .alertRuleRemoved(let p): try container.encode(p, forKey: .payload)
        case .alertTriggered(let p): try container.encode(p, forKey: .payload)
        case .signalsReplaced(let p): try container.encode(p, forKey: .payload)
        case .sourceAdvanced(let p): try container.encode(p, forKey: .payload)
        }
    }
}
