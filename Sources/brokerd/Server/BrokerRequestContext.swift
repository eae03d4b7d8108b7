import Broker
import Foundation
import Hummingbird
import NIOCore

/// Request context of brokerd's router: it remembers the peer address.
struct BrokerRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The TCP peer (nginx, when behind it).
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    /// Request bodies above this are refused (413): the largest legitimate one is a tick batch.
    var maxUploadSize: Int { 4 * 1024 * 1024 }

    var requestDecoder: StrictJSONRequestDecoder { StrictJSONRequestDecoder() }
}

extension SocketAddress {
    /// The address without the port, as logs and the clients list show it.
    var hostAddress: String? { ipAddress }
}

/// Decodes request bodies as Hummingbird's `JSONDecoder` does, and refuses (400 `invalid_body`) a
/// body in which one object holds a key twice: which of the two counts is the parser's choice, and
/// the WebSocket messages refuse the same (`DuplicateJSONKeys`).
struct StrictJSONRequestDecoder: RequestDecoder {
    func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws -> T {
        let buffer = try await request.body.collect(upTo: context.maxUploadSize)
        let bytes = Data(buffer.readableBytesView)
        let value = try JSONDecoder().decode(T.self, from: bytes)
        if let key = DuplicateJSONKeys.first(in: bytes) {
            throw APIError.badRequest("invalid_body", "the key \"\(key.prefix(64))\" appears twice in one object; send each key once")
        }
        return value
    }
}
