import Synchronization

/// Who subscribes to what, indexed both ways so fan-out never scans all clients.
///
/// Invariant: the forward and reverse maps hold exactly the same (client, subscription) pairs, and
/// neither keeps an empty set, so equal contents compare equal regardless of history.
public struct SubscriptionIndex: Sendable, Equatable {
    private var byClient: [String: Set<Subscription>] = [:]
    private var bySubscription: [Subscription: Set<String>] = [:]
    private var pairsByType: [SubscriptionType: Int] = [:]
    /// A stamp per subscription with subscribers, new whenever its set of subscribers changes.
    private var versions: [Subscription: UInt64] = [:]

    /// Stamps are unique in the process, so a version names one set of subscribers whichever index
    /// (or copy of one) it came from.
    private static let lastVersion = Atomic<UInt64>(0)

    /// Creates an empty index.
    public init() {}

    /// Number of (client, subscription) pairs.
    public private(set) var count: Int = 0

    /// Clients subscribed to `subscription`.
    public func subscribers(of subscription: Subscription) -> Set<String> {
        bySubscription[subscription] ?? []
    }

    /// A stamp of the current subscribers of `subscription`: equal stamps, equal subscribers (0:
    /// none). Lets a caller keep what it derived from `subscribers(of:)` until they change.
    public func version(of subscription: Subscription) -> UInt64 {
        versions[subscription] ?? 0
    }

    /// Whether at least one client subscribes to `subscription`.
    public func hasSubscribers(_ subscription: Subscription) -> Bool {
        bySubscription[subscription] != nil
    }

    /// What `clientID` subscribes to.
    public func subscriptions(of clientID: String) -> Set<Subscription> {
        byClient[clientID] ?? []
    }

    /// Whether `clientID` subscribes to `subscription`.
    public func contains(clientID: String, subscription: Subscription) -> Bool {
        byClient[clientID]?.contains(subscription) ?? false
    }

    /// Number of (client, subscription) pairs of the given type.
    public func count(of type: SubscriptionType) -> Int {
        pairsByType[type] ?? 0
    }

    /// Distinct subscriptions that have at least one subscriber.
    public var activeSubscriptions: Dictionary<Subscription, Set<String>>.Keys {
        bySubscription.keys
    }

    /// Every subscription that has subscribers, with them (a copy that shares the index's storage:
    /// cheap to take, to be read after the store's lock is let go).
    public var subscribersBySubscription: [Subscription: Set<String>] {
        bySubscription
    }

    /// Client ids that hold at least one subscription.
    public var clientIDs: Dictionary<String, Set<Subscription>>.Keys {
        byClient.keys
    }

    /// Adds the pair; returns false when it was already present.
    @discardableResult
    public mutating func insert(clientID: String, subscription: Subscription) -> Bool {
        guard byClient[clientID, default: []].insert(subscription).inserted else { return false }
        bySubscription[subscription, default: []].insert(clientID)
        stamp(subscription)
        pairsByType[subscription.type, default: 0] += 1
        count += 1
        return true
    }

    /// Removes the pair; returns false when it was not present.
    @discardableResult
    public mutating func remove(clientID: String, subscription: Subscription) -> Bool {
        guard byClient[clientID]?.remove(subscription) != nil else { return false }
        if byClient[clientID]?.isEmpty == true { byClient[clientID] = nil }
        bySubscription[subscription]?.remove(clientID)
        if bySubscription[subscription]?.isEmpty == true { bySubscription[subscription] = nil }
        stamp(subscription)
        decrement(subscription.type)
        return true
    }

    /// Removes every subscription of `clientID`.
    public mutating func removeAll(of clientID: String) {
        guard let subscriptions = byClient.removeValue(forKey: clientID) else { return }
        for subscription in subscriptions {
            bySubscription[subscription]?.remove(clientID)
            if bySubscription[subscription]?.isEmpty == true { bySubscription[subscription] = nil }
            stamp(subscription)
            decrement(subscription.type)
        }
    }

    /// Equal pairs: the versions are stamps of history, not contents.
    public static func == (lhs: SubscriptionIndex, rhs: SubscriptionIndex) -> Bool {
        lhs.count == rhs.count && lhs.byClient == rhs.byClient && lhs.bySubscription == rhs.bySubscription
            && lhs.pairsByType == rhs.pairsByType
    }

    private mutating func stamp(_ subscription: Subscription) {
        versions[subscription] =
            bySubscription[subscription] == nil ? nil : Self.lastVersion.add(1, ordering: .relaxed).newValue
    }

    private mutating func decrement(_ type: SubscriptionType) {
        count -= 1
        let left = (pairsByType[type] ?? 0) - 1
        pairsByType[type] = left > 0 ? left : nil
    }
}
