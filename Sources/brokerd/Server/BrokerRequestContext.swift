import Hummingbird
import HummingbirdWebSocket
import NIOCore

/// Request context of brokerd's router: WebSocket-capable, and it remembers the peer address.
struct BrokerRequestContext: RequestContext, WebSocketRequestContext {
    var coreContext: CoreRequestContextStorage
    let webSocket: WebSocketHandlerReference<Self>
    /// The TCP peer (nginx, when behind it).
    let remoteAddress: SocketAddress?
    /// The connection's channel: a WebSocket session writes its messages on it directly.
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        webSocket = .init()
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }

    /// Request bodies above this are refused (413): the largest legitimate one is a tick batch.
    var maxUploadSize: Int { 4 * 1024 * 1024 }
}

extension SocketAddress {
    /// The address without the port, as logs and the clients list show it.
    var hostAddress: String? { ipAddress }
}
