/// Where one benchmark client's connection stands.
enum ClientStatus: Sendable, Equatable {
    case connecting
    case connected
    case subscribed
    /// The connection ended before the benchmark stopped it.
    case ended(reason: String)
}
