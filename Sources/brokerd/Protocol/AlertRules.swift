import Broker

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
        let code: String
        let condition: String
        let threshold: Double
        let triggered: Bool

        init(rule: AlertRule, triggered: Bool) {
            ruleID = rule.id
            code = rule.code
            condition = rule.condition.rawValue
            threshold = rule.threshold
            self.triggered = triggered
        }

        enum CodingKeys: String, CodingKey {
            case code, condition, threshold, triggered
            case ruleID = "rule_id"
        }
    }

    struct List: Encodable {
        let type = "alerts"
        let rules: [Listed]
        let timestamp: String
    }
}
