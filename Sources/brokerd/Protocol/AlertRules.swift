import Broker
import HummingbirdCore

/// Replies to the alert-rule messages (`set_alert`, `remove_alert`, `list_alerts`) and the HTTP rules API.
enum AlertRules {
    static func newRuleID() -> String {
        let hex = String(UInt32.random(in: .min ... .max), radix: 16)
        return "rule_" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    struct Reply: Encodable {
        let type: String
        let ruleID: String
        let code: String
        let condition: String
        let threshold: Double
        let user: String
        let timestamp: String

        init(type: String, rule: AlertRule) {
            self.type = type
            ruleID = rule.id
            code = rule.code
            condition = rule.condition.rawValue
            threshold = rule.threshold
            user = rule.user
            timestamp = WireTime.now()
        }

        enum CodingKeys: String, CodingKey {
            case type, code, condition, threshold, user, timestamp
            case ruleID = "rule_id"
        }
    }

    struct Removed: Encodable {
        let type = "alert_removed"
        let ruleID: String
        let timestamp: String

        enum CodingKeys: String, CodingKey {
            case type, timestamp
            case ruleID = "rule_id"
        }
    }

    struct Listed: Encodable, Sendable {
        let ruleID: String
        /// The owner: in the operators' listing, not in a user's own (`list_alerts`).
        let user: String?
        let code: String
        let condition: String
        let threshold: Double
        let triggered: Bool

        init(rule: AlertRule, triggered: Bool, showingUser: Bool = false) {
            ruleID = rule.id
            user = showingUser ? rule.user : nil
            code = rule.code
            condition = rule.condition.rawValue
            threshold = rule.threshold
            self.triggered = triggered
        }

        enum CodingKeys: String, CodingKey {
            case user, code, condition, threshold, triggered
            case ruleID = "rule_id"
        }
    }

    /// What `GET /api/alerts/rules` asks for.
    struct Query: Equatable, Sendable {
        var user: String?
        var code: String?
        var limit = AlertRules.defaultListLimit
    }

    static let defaultListLimit = 1_000
    static let maxListLimit = 100_000

    /// The query of `?user=&code=&limit=`; an empty user, a bad code or limit is refused.
    static func query(_ uri: URI) throws -> Query {
        var query = Query()
        if let user = uri.formValue("user") {
            guard !user.isEmpty else { throw APIError.badRequest("invalid_user", "user is empty; leave it out to list every user's rules") }
            query.user = user
        }
        query.code = try uri.codeValue()
        query.limit = try uri.limitValue(max: maxListLimit) ?? query.limit
        return query
    }

    /// The rules of `book` that match `query`, by user and then id, at most `query.limit` of them;
    /// and how many matched. Uses the book's user and code indexes when the query names one.
    static func listing(_ book: AlertBook, matching query: Query) -> (rules: [Listed], matched: Int) {
        let candidates: [AlertRule] =
            if let user = query.user { book.rules(ofUser: user) } else if let code = query.code { book.rules(ofCode: code) } else {
                Array(book.rules.values)
            }
        let matching = candidates.filter { query.code == nil || $0.code == query.code }
            .sorted { ($0.user, $0.id) < ($1.user, $1.id) }
        let rows = matching.prefix(query.limit).map { Listed(rule: $0, triggered: book.isTriggered($0.id), showingUser: true) }
        return (Array(rows), matching.count)
    }

    /// `GET /api/alerts/rules`.
    struct ListingBody: Encodable {
        /// Rules that matched (more than `rules` holds when the limit cut them).
        let count: Int
        let rules: [Listed]
    }

    struct List: Encodable {
        let type = "alerts"
        let rules: [Listed]
        let timestamp: String
    }
}
