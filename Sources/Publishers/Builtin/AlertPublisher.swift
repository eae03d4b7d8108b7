import Broker
import Synchronization

/// Evaluates alert rules on every tick against the projection (only the rules of the tick's code),
/// journals each firing (`alert_triggered`) and sends `alert` to every connection of the rule's
/// user. A fired rule stays quiet until its condition clears, which re-arms it (in the projection).
public final class AlertPublisher: Publisher {
    public let name = "alert"
    public let kinds: Set<EventKind> = [.priceTicked, .alertTriggered]

    private struct Firing: Sendable {
        let ruleID: String
        let price: Double
    }

    /// Rules whose firing is on its way to the journal, so a burst of ticks fires a rule once.
    private let inFlight = Mutex<Set<String>>([])
    private let firings: AsyncStream<Firing>.Continuation
    private let firingStream: AsyncStream<Firing>

    public init() {
        (firingStream, firings) = AsyncStream.makeStream(of: Firing.self)
    }

    public func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws {
        for recorded in events {
            switch recorded.event {
            case .priceTicked(let tick):
                for rule in projection.alerts.rulesToTrigger(for: tick) where inFlight.withLock({ $0.insert(rule.id).inserted }) {
                    firings.yield(Firing(ruleID: rule.id, price: tick.price))
                }
            case .alertTriggered(let triggered):
                let rule = projection.alerts.rule(id: triggered.ruleID)
                let notice = AlertNotice(triggered: triggered, rule: rule, at: recorded.timestamp)
                sink.send(.message(type: "alert", data: notice), seq: recorded.seq, toUser: triggered.user)
            default:
                continue
            }
        }
    }

    public func run(_ context: PublisherContext) async throws {
        for await firing in firingStream {
            // Refused when the rule was removed or already fired meanwhile: nothing to do then.
            _ = try? await context.store.execute(.triggerAlert(ruleID: firing.ruleID, price: firing.price))
            _ = inFlight.withLock { $0.remove(firing.ruleID) }
        }
    }
}

/// The `data` of an `alert` message.
public struct AlertNotice: Encodable, Sendable {
    public let ruleID: String
    public let code: String
    public let condition: String?
    public let threshold: Double?
    public let price: Double
    public let user: String
    public let triggeredAt: Int64

    /// The notice for a firing of `rule` journaled at `timestamp`.
    public init(triggered: AlertTriggered, rule: AlertRule?, at timestamp: Int64) {
        ruleID = triggered.ruleID
        code = triggered.code
        condition = rule?.condition.rawValue
        threshold = rule?.threshold
        price = triggered.price
        user = triggered.user
        triggeredAt = timestamp
    }

    enum CodingKeys: String, CodingKey {
        case code, condition, threshold, price, user
        case ruleID = "rule_id"
        case triggeredAt = "triggered_at"
    }
}
