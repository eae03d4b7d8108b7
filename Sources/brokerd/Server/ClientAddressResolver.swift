import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Works out a client's real address when brokerd may sit behind proxies such as nginx.
///
/// `X-Forwarded-For` is believed only when the TCP peer is a trusted proxy, and then only as far
/// as trusted proxies vouch for it: the header is read from the right (each proxy appends the
/// address it saw), trusted proxies are skipped, and the first address that is not one is the
/// client. Whatever a client wrote into the header itself sits further left and is never reached
/// unless every hop after it is trusted. This is the usual rule (nginx `real_ip_recursive`, Rails,
/// Go's `X-Forwarded-For` guidance); the left-most entry alone is never taken.
struct ClientAddressResolver: Sendable {
    /// The trusted proxies, canonical (so `::ffff:10.0.0.1` and `10.0.0.1` are the same).
    let trustedProxies: Set<String>

    init(trustedProxies: [String]) {
        self.trustedProxies = Set(trustedProxies.map { Self.canonical($0) ?? $0 })
    }

    /// The client's address: the TCP `peer` unless it is a trusted proxy, else the right-most
    /// address of the `forwardedFor` header values (in order received, each possibly a
    /// comma-separated list) that is not a trusted proxy.
    ///
    /// When every listed address is trusted, the left-most one is the client. An entry that is not
    /// an IP address (`unknown`, garbage, an obfuscated name) ends the walk: the hop that passed it
    /// on is the last address anyone trusted vouched for, so that is the answer.
    func resolve(peer: String?, forwardedFor: [String]) -> String? {
        guard let peer else { return nil }
        guard let peerAddress = Self.canonical(peer) else { return peer }
        guard trustedProxies.contains(peerAddress) else { return peerAddress }
        let entries = forwardedFor.flatMap { $0.split(separator: ",") }
        var hop = peerAddress
        for entry in entries.reversed() {
            guard let address = Self.canonical(String(entry)) else { return hop }
            guard trustedProxies.contains(address) else { return address }
            hop = address
        }
        return hop
    }

    /// `text` as one canonical IP address: trimmed, without `[…]` or a port, IPv6 compressed and
    /// lower-case, IPv4-mapped IPv6 as plain IPv4; nil when it is not an IP address.
    static func canonical(_ text: String) -> String? {
        var address = Substring(text.trimmingCharacters(in: .whitespaces))
        if address.hasPrefix("[") {
            // [v6] or [v6]:port
            guard let close = address.firstIndex(of: "]") else { return nil }
            address = address[address.index(after: address.startIndex)..<close]
        } else if address.count(where: { $0 == ":" }) == 1, let colon = address.firstIndex(of: ":") {
            // v4:port (a bare IPv6 address has at least two colons)
            address = address[..<colon]
        }
        var v4 = in_addr()
        if inet_pton(AF_INET, String(address), &v4) == 1 { return format(v4) }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(address), &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            var mapped = in_addr()
            withUnsafeMutableBytes(of: &mapped) { $0.copyBytes(from: bytes[12..<16]) }
            return format(mapped)
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// What the per-address limits count `address` (canonical, from `resolve`) under: an IPv6
    /// address by its /64 (`2001:db8::/64`), the least a host gets, so one client cannot step
    /// around the limits through the addresses of its own network; anything else as it is.
    static func limitKey(_ address: String) -> String {
        var v6 = in6_addr()
        guard address.contains(":"), inet_pton(AF_INET6, address, &v6) == 1 else { return address }
        withUnsafeMutableBytes(of: &v6) { bytes in
            for index in 8..<16 { bytes[index] = 0 }
        }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil else { return address }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/64"
    }

    private static func format(_ address: in_addr) -> String {
        var address = address
        var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        _ = inet_ntop(AF_INET, &address, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
