/// One entry of a strategy's signal list.
public struct Signal: Sendable, Hashable, Codable {
    /// Stock code.
    public var code: String
    /// Display name.
    public var name: String
    /// Date the strategy signalled, as published (free-form).
    public var signalDate: String?
    /// Why the strategy picked it.
    public var reason: String?

    /// Creates a signal.
    public init(code: String, name: String, signalDate: String? = nil, reason: String? = nil) {
        self.code = code
        self.name = name
        self.signalDate = signalDate
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case code, name
        case signalDate = "signal_date"
        case reason
    }

    /// From JSON as feeders send it (`PUT /api/signals/{strategy}`, the shared signals channel):
    /// only `code` is required, and the name defaults to it.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.decode(String.self, forKey: .code)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? code
        signalDate = try container.decodeIfPresent(String.self, forKey: .signalDate)
        reason = try container.decodeIfPresent(String.self, forKey: .reason)
    }
}
