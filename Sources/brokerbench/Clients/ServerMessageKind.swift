/// The kinds of server message the benchmark tells apart.
enum ServerMessageKind: Sendable, Equatable {
    case connected
    case subscribed
    case priceUpdate
    case pong
    case error
    case other
}
