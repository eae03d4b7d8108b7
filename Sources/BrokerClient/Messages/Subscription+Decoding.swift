extension Subscription {
    /// The `subscription_type` and `target` of a message, when it has a target.
    static func decodeIfPresent<Key: CodingKey>(
        from container: KeyedDecodingContainer<Key>, type typeKey: Key, target targetKey: Key
    ) throws -> Subscription? {
        guard let target = try container.decodeIfPresent(String.self, forKey: targetKey) else { return nil }
        // The broker omits subscription_type nowhere, but the seed defaulted it to strategy.
        let name = try container.decodeIfPresent(String.self, forKey: typeKey) ?? Kind.strategy.rawValue
        guard let kind = Kind(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: typeKey, in: container, debugDescription: "unknown subscription_type \(name)")
        }
        return Subscription(kind, target)
    }
}
