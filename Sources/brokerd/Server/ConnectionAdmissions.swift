import Synchronization

/// WebSocket connections admitted and not yet closed, held to `max_clients` in all and, when set,
/// to `max_clients_per_address` and a new-connection rate per client address, and to
/// `max_connections_per_user` per user (once a token proved who it is).
///
/// A slot is taken when an upgrade is accepted, before its session opens (token check, journal
/// commit), and given back when its channel closes. Counting registered sessions instead let a
/// burst of upgrades — every client reconnecting after a restart — pass the limit while the
/// earlier ones were still opening.
///
/// The per-address limits keep one address from taking every slot or, connecting in a loop, from
/// growing the journal (every session is journaled and kept for the resume window). The address
/// is the client's as `ClientAddressResolver` finds it: behind a proxy that is not trusted, every
/// client has the proxy's.
final class ConnectionAdmissions: Sendable {
    private let state: Mutex<State>

    /// The limits per client address; 0 turns one off.
    struct PerAddressLimits: Sendable, Equatable {
        /// Connections one address may hold at once.
        var maxClients = 0
        /// New connections per second one address may open on average (token bucket rate).
        var connectRate = 0.0
        /// New connections one address may open at once (token bucket capacity).
        var connectBurst = 100

        static let none = PerAddressLimits()
    }

    /// Why an upgrade is refused.
    enum Refusal: Equatable {
        /// All `limit` slots are taken.
        case full(limit: Int)
        /// The address holds `maxClients` connections.
        case addressFull(address: String, limit: Int)
        /// The address opened connections faster than its rate; a slot is free again in `retryAfter` seconds.
        case addressTooFast(address: String, rate: Double, retryAfter: Int)
    }

    private struct State {
        /// Connections at most (`max_clients`, which a reload may change).
        var limit: Int
        /// The limits per address (which a reload may change).
        var limits: PerAddressLimits
        var admitted = 0
        /// The connections holding a slot taken with `admit(_:address:now:)`.
        var holders: Set<ObjectIdentifier> = []
        /// The address of each holder counted in `perAddress` (only under a per-address limit: an
        /// entry for each of 10,000 idle connections costs ~0.5 % of their memory).
        var countedAddresses: [ObjectIdentifier: String] = [:]
        /// Connections held per address, for addresses holding any.
        var perAddress: [String: Int] = [:]
        var buckets: [String: ConnectBucket] = [:]
        /// The user of each connection a token proved one for, and the connections of each user:
        /// always counted (a connection of an authenticated client already holds far more), so a
        /// limit turned on by a reload counts those open.
        var holderUsers: [ObjectIdentifier: String] = [:]
        var perUser: [String: Int] = [:]
        /// When buckets refilled to capacity were last dropped.
        var sweptAt: Int64 = 0
    }

    /// An address's new-connection token bucket.
    private struct ConnectBucket {
        var tokens: Double
        var updatedAt: Int64

        /// The tokens at `now` (µs on a monotonic clock).
        func tokens(at now: Int64, rate: Double, burst: Double) -> Double {
            min(burst, tokens + Double(max(0, now - updatedAt)) / 1_000_000 * rate)
        }
    }

    init(limit: Int, perAddress: PerAddressLimits = .none) {
        state = Mutex(State(limit: limit, limits: perAddress))
    }

    /// The limits per client address.
    var perAddress: PerAddressLimits { state.withLock { $0.limits } }

    /// Connections at most.
    var limit: Int { state.withLock { $0.limit } }

    /// Takes a new `max_clients`: upgrades are refused while `limit` or more connections hold a
    /// slot; a lower limit closes none of them.
    func setLimit(_ limit: Int) {
        state.withLock { $0.limit = limit }
    }

    /// Takes new limits per address. Turning the connection limit on counts the connections
    /// `held` (holder, address) that hold a slot and were not counted, so an address already
    /// holding more than the limit opens no more until it holds fewer; turning it off forgets the
    /// counts. A new connect rate applies to each address's bucket as it stands.
    func setPerAddress(_ limits: PerAddressLimits, held: [(holder: ObjectIdentifier, address: String)]) {
        state.withLock { state in
            if limits.maxClients == 0 {
                state.countedAddresses = [:]
                state.perAddress = [:]
            } else if state.limits.maxClients == 0 {
                for (holder, address) in held where state.holders.contains(holder) && state.countedAddresses[holder] == nil {
                    state.countedAddresses[holder] = address
                    state.perAddress[address, default: 0] += 1
                }
            }
            if limits.connectRate == 0 { state.buckets = [:] }
            state.limits = limits
        }
    }

    /// Connections holding a slot.
    var count: Int { state.withLock { $0.admitted } }

    /// Connections holding a slot from `address`, when connections per address are limited.
    func count(from address: String) -> Int { state.withLock { $0.perAddress[address] ?? 0 } }

    /// Addresses whose new-connection bucket is tracked (not yet full again).
    var trackedAddresses: Int { state.withLock { $0.buckets.count } }

    /// Takes a slot for the connection `holder` from `address` (nil: unknown, held to the total
    /// only) at `now` (µs on a monotonic clock); nil when admitted, else why not. A refused
    /// connection takes nothing, not even a token of its address's rate.
    func admit(_ holder: ObjectIdentifier, address: String?, now: Int64) -> Refusal? {
        state.withLock { state -> Refusal? in
            let limits = state.limits
            guard state.admitted < state.limit else { return .full(limit: state.limit) }
            if let address {
                if limits.maxClients > 0, let held = state.perAddress[address], held >= limits.maxClients {
                    return .addressFull(address: address, limit: limits.maxClients)
                }
                if limits.connectRate > 0 {
                    let burst = Double(limits.connectBurst)
                    Self.sweep(&state, now: now, rate: limits.connectRate, burst: burst)
                    let tokens = state.buckets[address]?.tokens(at: now, rate: limits.connectRate, burst: burst) ?? burst
                    guard tokens >= 1 else {
                        // At most a day: a rate near 0 would wait longer than an Int holds.
                        let wait = min((1 - tokens) / limits.connectRate, 86_400)
                        return .addressTooFast(address: address, rate: limits.connectRate, retryAfter: max(1, Int(wait.rounded(.up))))
                    }
                    state.buckets[address] = ConnectBucket(tokens: tokens - 1, updatedAt: now)
                }
            }
            if limits.maxClients > 0, let address {
                state.perAddress[address, default: 0] += 1
                state.countedAddresses[holder] = address
            }
            state.admitted += 1
            state.holders.insert(holder)
            return nil
        }
    }

    /// Counts the connection `holder` as one of `user`'s, unless the user holds `limit`
    /// connections already (0: no limit); whether it was counted. Given back by `release(_:)`.
    func admit(_ holder: ObjectIdentifier, user: String, limit: Int) -> Bool {
        state.withLock { state in
            // Counted already: it holds its place.
            guard state.holderUsers[holder] == nil else { return true }
            let held = state.perUser[user] ?? 0
            guard limit == 0 || held < limit else { return false }
            state.perUser[user] = held + 1
            state.holderUsers[holder] = user
            return true
        }
    }

    /// Connections counted for `user`.
    func count(ofUser user: String) -> Int { state.withLock { $0.perUser[user] ?? 0 } }

    /// Gives back what `holder` holds, once its channel has closed: its slot, if `releaseSlot(_:)`
    /// did not give it back already, and its place in its address's and its user's count.
    func release(_ holder: ObjectIdentifier) {
        state.withLock { state in
            if state.holders.remove(holder) != nil { state.admitted -= 1 }
            if let user = state.holderUsers.removeValue(forKey: holder) {
                let held = (state.perUser[user] ?? 1) - 1
                state.perUser[user] = held > 0 ? held : nil
            }
            if let address = state.countedAddresses.removeValue(forKey: holder) {
                let held = (state.perAddress[address] ?? 1) - 1
                state.perAddress[address] = held > 0 ? held : nil
            }
        }
    }

    /// Gives back the `max_clients` slot of `holder` as soon as its session is refused (a token
    /// refused: the close that follows may take seconds, and clients with no token could hold
    /// every slot meanwhile). Its place in its address's count is kept until `release(_:)`: the
    /// socket is still open, and an address may not hold more of them than its limit.
    func releaseSlot(_ holder: ObjectIdentifier) {
        state.withLock { state in
            if state.holders.remove(holder) != nil { state.admitted -= 1 }
        }
    }

    /// Drops the buckets that have refilled to capacity (the same as having none), at most once a
    /// second and only once there are many: connections from ever new addresses keep as many
    /// buckets as refill more slowly than they come.
    private static func sweep(_ state: inout State, now: Int64, rate: Double, burst: Double) {
        guard state.buckets.count > 1_024, now - state.sweptAt >= 1_000_000 else { return }
        state.sweptAt = now
        state.buckets = state.buckets.filter { $0.value.tokens(at: now, rate: rate, burst: burst) < burst }
    }
}
