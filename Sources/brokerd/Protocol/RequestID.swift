import Foundation

/// The optional `id` of a client message, echoed in every direct reply to it (`subscribed`,
/// `unsubscribed`, `pong`, `alert_set`, `alert_removed`, `alerts`, `error`), so a client can tell
/// which request a reply answers, as Centrifugo's command ids do. The seed protocol has no ids: a
/// message without one is answered as before, without one.
///
/// A whole number from 0 to 2^53 − 1 (exact in a JavaScript number) or a string of 1 to 64
/// characters, echoed as it came.
enum RequestID: Equatable, Sendable, Encodable {
    case number(Int64)
    case text(String)

    static let maxNumber: Int64 = (1 << 53) - 1
    static let maxLength = 64

    /// The id in a message's `id` field; nil when there is none. Anything else is refused.
    static func from(_ value: Any?) throws(ClientRequest.Rejection) -> RequestID? {
        switch value {
        case nil:
            return nil
        case let text as String:
            guard (1...maxLength).contains(text.count) else { throw invalid }
            return .text(text)
        case let number as NSNumber:
            // A JSON boolean is the NSNumber of C type "c" (see `ClientRequest.number`).
            guard String(cString: number.objCType) != "c", let whole = Int64(exactly: number.doubleValue),
                (0...maxNumber).contains(whole)
            else { throw invalid }
            return .number(whole)
        default:
            throw invalid
        }
    }

    private static var invalid: ClientRequest.Rejection {
        ClientRequest.Rejection(
            error: "invalid_id",
            details: "id must be a whole number from 0 to \(maxNumber) or a string of 1 to \(maxLength) characters; replies echo it")
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let number): try container.encode(number)
        case .text(let text): try container.encode(text)
        }
    }
}
