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
}

extension SocketAddress {
    /// The address without the port, as logs and the clients list show it.
    var hostAddress: String? { ipAddress }
}
