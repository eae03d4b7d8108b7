/// The broker's state at one seq, as an audit shows it: every list sorted, every time in ISO-8601,
/// so equal states give equal reports (and, encoded with sorted keys, equal JSON).
public struct StateReport: Sendable, Hashable, Codable {
    /// A session, connected or gone, with its subscriptions.
    public struct Client: Sendable, Hashable, Codable {
        public var clientID: String
        public var user: String?
        public var remote: String?
        public var node: String
        /// `connected` or `gone`.
        public var state: String
        /// Journal time of the latest connect or resume.
        public var connectedAt: String
        /// When the connection ended; nil while connected.
        public var goneSince: String?
        /// Why it ended (`closed`, `heartbeat_timeout`, ...); nil while connected.
        public var reason: String?
        /// Until when the session may be resumed; nil while connected.
        public var resumeDeadline: String?
        /// Sorted by type, then target.
        public var subscriptions: [SubscriptionEntry]

        enum CodingKeys: String, CodingKey {
            case clientID = "client_id"
            case user, remote, node, state, reason, subscriptions
            case connectedAt = "connected_at"
            case goneSince = "gone_since"
            case resumeDeadline = "resume_deadline"
        }
    }

    /// One subscription of a client.
    public struct SubscriptionEntry: Sendable, Hashable, Codable {
        public var type: String
        public var target: String
    }

    /// The latest tick of a code.
    public struct Price: Sendable, Hashable, Codable {
        public var code: String
        public var name: String
        public var price: Double
        public var prevClose: Double
        public var change: Double
        public var changePercent: Double
        public var volume: Int64
        /// The tick's own (source) time.
        public var timestamp: String

        enum CodingKeys: String, CodingKey {
            case code, name, price, change, volume, timestamp
            case prevClose = "prev_close"
            case changePercent = "change_percent"
        }
    }

    /// The latest bar of a code and period.
    public struct Bar: Sendable, Hashable, Codable {
        public var code: String
        public var period: String
        public var open: Double
        public var high: Double
        public var low: Double
        public var close: Double
        public var volume: Int64
        public var start: String
        public var closed: Bool
    }

    /// An alert rule and whether it has fired (and not been re-armed since).
    public struct Rule: Sendable, Hashable, Codable {
        public var id: String
        public var user: String
        public var code: String
        public var condition: String
        public var threshold: Double
        public var triggered: Bool
    }

    /// A strategy's signal list, in publisher order.
    public struct Strategy: Sendable, Hashable, Codable {
        public var strategy: String
        public var signals: [Signal]
    }

    /// A news item still in the ring buffer.
    public struct News: Sendable, Hashable, Codable {
        public var seq: UInt64
        public var id: String
        public var title: String
        public var category: String
        public var codes: [String]
        public var publishedAt: String

        enum CodingKeys: String, CodingKey {
            case seq, id, title, category, codes
            case publishedAt = "published_at"
        }
    }

    /// Seq of the last event applied; 0 for the empty state before the first event.
    public var lastSeq: UInt64
    /// Journal time of that event; nil at seq 0.
    public var lastTime: String?
    /// Sessions sorted by id.
    public var clients: [Client]
    /// Latest prices sorted by code.
    public var prices: [Price]
    /// Latest bars sorted by code, then period.
    public var bars: [Bar]
    /// Alert rules sorted by id.
    public var alertRules: [Rule]
    /// Strategies sorted by name.
    public var signals: [Strategy]
    /// News in the ring buffer, oldest first.
    public var news: [News]
    /// Tick source read positions by source name.
    public var sources: [String: String]

    enum CodingKeys: String, CodingKey {
        case clients, prices, bars, signals, news, sources
        case lastSeq = "last_seq"
        case lastTime = "last_time"
        case alertRules = "alert_rules"
    }

    /// Clients with a live connection at this seq.
    public var connectedClients: [Client] { clients.filter { $0.state == "connected" } }
}
