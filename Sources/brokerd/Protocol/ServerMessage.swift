import Broker
import Foundation
import NIOCore

/// Messages the broker sends to WebSocket clients (SPEC §4), encoded once as JSON text.
enum ServerMessage {
    struct Connected: Encodable {
        let type = "connected"
        let clientID: String
        let message: String
        let timestamp: String
        let seq: UInt64
        let resumed: Bool
        /// What a resume of this session must bring back (`?resume_token=`), with its id.
        let resumeToken: String
        /// The connection's price interval in seconds (see `ConnectionPriceInterval`); left out
        /// when price updates are not held back.
        var priceInterval: Double?

        enum CodingKeys: String, CodingKey {
            case type, message, timestamp, seq, resumed
            case clientID = "client_id"
            case resumeToken = "resume_token"
            case priceInterval = "price_interval"
        }
    }

    struct SubscriptionReply: Encodable {
        let type: String
        let subscriptionType: String
        let target: String
        let message: String
        /// The seq the change was applied at: everything before it has reached the client.
        let seq: UInt64
        let timestamp: String

        enum CodingKeys: String, CodingKey {
            case type, target, message, seq, timestamp
            case subscriptionType = "subscription_type"
        }
    }

    struct Pong: Encodable {
        let type = "pong"
        let timestamp: String
    }

    /// The answer to `refresh`: the connection now holds the new token, closed at its `exp`.
    struct Refreshed: Encodable {
        let type = "refreshed"
        let expiresAt: String?
        let timestamp: String

        enum CodingKeys: String, CodingKey {
            case type, timestamp
            case expiresAt = "expires_at"
        }
    }

    struct Failure: Encodable {
        let type = "error"
        let error: String
        let details: String
        let timestamp: String
    }

    /// One code's entry in a `price_update`.
    struct PriceEntry: Encodable, Sendable {
        let code: String
        let name: String
        let price: Double
        let change: Double
        let changePercent: Double
        let volume: Int64
        let timestamp: String

        init(_ tick: PriceTick) {
            code = tick.code
            name = tick.name
            price = tick.price
            change = (tick.change * 1_000).rounded() / 1_000
            changePercent = tick.shownChangePercent
            volume = tick.volume
            timestamp = WireTime.format(microseconds: tick.timestamp)
        }

        enum CodingKeys: String, CodingKey {
            case code, name, price, change, volume, timestamp
            case changePercent = "change_percent"
        }
    }

    struct PriceUpdate: Encodable {
        let type = "price_update"
        let data: [PriceEntry]
        let count: Int
        let timestamp: String
        let seq: UInt64
        let subscriptionType: String
        let target: String

        init(entries: [PriceEntry], seq: UInt64, subscription: Subscription) {
            data = entries
            count = entries.count
            timestamp = WireTime.now()
            self.seq = seq
            subscriptionType = subscription.type.rawValue
            target = subscription.target
        }

        enum CodingKeys: String, CodingKey {
            case type, data, count, timestamp, seq, target
            case subscriptionType = "subscription_type"
        }
    }

    /// A publisher's message: `{"type", "data", "seq", "timestamp"}` plus the subscription it answers.
    struct Envelope: Encodable {
        let type: String
        let data: any Encodable & Sendable
        let seq: UInt64
        let subscription: Subscription?

        enum CodingKeys: String, CodingKey {
            case type, data, seq, timestamp, target
            case subscriptionType = "subscription_type"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(type, forKey: .type)
            try data.encode(to: container.superEncoder(forKey: .data))
            try container.encode(seq, forKey: .seq)
            try container.encode(WireTime.now(), forKey: .timestamp)
            if let subscription {
                try container.encode(subscription.type.rawValue, forKey: .subscriptionType)
                try container.encode(subscription.target, forKey: .target)
            }
        }
    }

    static func encode(_ message: some Encodable) -> ByteBuffer {
        encodeWithFoundation(message)
    }

    /// `message` through `JSONEncoder` (`encode(_: PriceUpdate)` writes the same bytes faster).
    static func encodeWithFoundation(_ message: some Encodable) -> ByteBuffer {
        let encoder = JSONEncoder()
        // Sorted keys: the same message always has the same bytes.
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        // Every message type here encodes plain strings and finite numbers, so encoding cannot fail.
        let data = (try? encoder.encode(message)) ?? Data(#"{"type":"error","error":"internal","details":"encoding failed"}"#.utf8)
        return ByteBuffer(bytes: data)
    }

    /// `message` as the reply to a request with `id`: the message's fields plus `"id"` when the
    /// request had one.
    static func reply(_ message: some Encodable, to id: RequestID?) -> ByteBuffer {
        guard let id else { return encode(message) }
        return encode(Answer(message: message, id: id))
    }

    static func error(_ error: String, _ details: String, answering id: RequestID? = nil) -> ByteBuffer {
        reply(Failure(error: error, details: details, timestamp: WireTime.now()), to: id)
    }

    static func error(_ brokerError: BrokerError, answering id: RequestID? = nil) -> ByteBuffer {
        error(brokerError.error, brokerError.details, answering: id)
    }

    /// A reply's own fields and the request's `id`, in one object.
    private struct Answer<Message: Encodable>: Encodable {
        let message: Message
        let id: RequestID

        private enum CodingKeys: String, CodingKey { case id }

        func encode(to encoder: any Encoder) throws {
            try message.encode(to: encoder)
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
        }
    }
}
