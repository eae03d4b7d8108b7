import Broker

/// What a token lets its holder subscribe to: the `allow` claim, e.g.
/// `{"strategy":["volume_wave"],"stock":["*"],"news":["all"]}`.
///
/// Each key is a subscription type (`strategy`, `stock`, `market`, `news`) and lists the targets
/// of that type the user may subscribe to; `"*"` allows every target of the type. A type the
/// claim does not list is not allowed at all. `alerts` needs no grant: it only ever names the
/// user's own alerts. A token without the claim allows everything (no allow-list at all).
struct SubscriptionAllowList: Sendable, Equatable {
    /// The target that allows every target of its type.
    static let wildcard = "*"

    /// The types a claim may list: every type but `alerts`.
    static let grantableTypes = SubscriptionType.allCases.filter { $0 != .alerts }

    /// Allowed targets per type; a type missing here is not allowed.
    private let targets: [SubscriptionType: Set<String>]

    /// Reads the `allow` claim; unknown types and unusable targets are refused rather than
    /// ignored, so a typo in the issuer cannot silently widen or narrow a grant.
    init(claim: [String: [String]]) throws(ClientAuthError) {
        var targets: [SubscriptionType: Set<String>] = [:]
        let known = Self.grantableTypes.map(\.rawValue).joined(separator: ", ")
        for (name, list) in claim {
            guard let type = SubscriptionType(rawValue: name), type != .alerts else {
                let hint = name == SubscriptionType.alerts.rawValue ? " (a user's own alerts need no grant)" : ""
                throw .invalidAllowList(reason: "names '\(name.prefix(32))', not a type it can grant\(hint); use \(known)")
            }
            for target in list {
                if let problem = FieldRules.identifierProblem(target, maxLength: Broker.Limits().maxTargetLength) {
                    throw .invalidAllowList(reason: "has a \(name) target that \(problem)")
                }
            }
            targets[type] = Set(list)
        }
        self.targets = targets
    }

    /// Whether a subscription to `subscription` is allowed.
    func permits(_ subscription: Subscription) -> Bool {
        if subscription.type == .alerts { return true }
        guard let allowed = targets[subscription.type] else { return false }
        return allowed.contains(Self.wildcard) || allowed.contains(subscription.target)
    }

    /// Why an alert on `code` is refused (nil when allowed). An alert tells its price, so it is
    /// allowed where a subscription could show the price: the stock, its board, or one of
    /// `strategies` (those listing the code).
    func alertRefusal(code: String, strategies: Set<String>) -> String? {
        guard !permitsPrice(of: code, strategies: strategies) else { return nil }
        let shown = code.count <= 64 ? code : String(code.prefix(64)) + "…"
        return "your token does not allow the prices of '\(shown)' (as a stock, its market or a strategy listing it), so it cannot set alerts on it"
    }

    /// Whether a subscription could show the price of `code`: the stock, its board, or one of
    /// `strategies` (those listing the code).
    func permitsPrice(of code: String, strategies: Set<String>) -> Bool {
        var sources = [Subscription(type: .stock, target: code)]
        if let board = Board.of(code: code) { sources.append(Subscription(type: .market, target: board.rawValue)) }
        sources += strategies.sorted().map { Subscription(type: .strategy, target: $0) }
        return sources.contains(where: permits)
    }

    /// Whether a subscription could bring `item`: `news` of `all` or its category, or `stock` of
    /// one of the codes it is tagged with (`NewsPublisher` sends it to those too).
    func permitsNews(_ item: NewsItem) -> Bool {
        item.newsSubscriptions.contains(where: permits) || item.codes.contains { permits(Subscription(type: .stock, target: $0)) }
    }

    /// Why `subscription` is refused, for the client's `error` reply (nil when it is allowed).
    func refusal(of subscription: Subscription) -> String? {
        guard !permits(subscription) else { return nil }
        let type = subscription.type.rawValue
        let target = subscription.target.count <= 64 ? subscription.target : String(subscription.target.prefix(64)) + "…"
        guard let allowed = targets[subscription.type] else {
            return "your token does not allow \(type) subscriptions; ask for a token whose allow claim lists \(type)"
        }
        let shown = allowed.sorted().prefix(20).joined(separator: ", ")
        let more = allowed.count > 20 ? ", …" : ""
        return "your token does not allow \(type) '\(target)'; it allows \(type): \(allowed.isEmpty ? "none" : shown + more)"
    }
}
