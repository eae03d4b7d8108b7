import Testing

@testable import brokerd

/// Which address the broker records for a client behind (or pretending to be behind) proxies.
@Suite struct ClientAddressResolverTests {
    private let nginx = ClientAddressResolver(trustedProxies: ["127.0.0.1"])

    @Test func withoutTrustedProxiesTheHeaderIsIgnored() {
        let resolver = ClientAddressResolver(trustedProxies: [])
        #expect(resolver.resolve(peer: "198.51.100.7", forwardedFor: ["203.0.113.9"]) == "198.51.100.7")
    }

    @Test func anUntrustedPeersHeaderIsNeverBelieved() {
        #expect(nginx.resolve(peer: "198.51.100.7", forwardedFor: ["203.0.113.9"]) == "198.51.100.7")
        #expect(nginx.resolve(peer: "198.51.100.7", forwardedFor: ["127.0.0.1"]) == "198.51.100.7", "claiming to be the proxy does not help")
    }

    @Test func aTrustedProxysHeaderGivesTheClientItSaw() {
        #expect(nginx.resolve(peer: "127.0.0.1", forwardedFor: ["203.0.113.9"]) == "203.0.113.9")
    }

    @Test func aValueTheClientWroteItselfIsLeftOfWhatTheProxyAppendedAndIsNotBelieved() {
        // nginx appends its peer: "<whatever the client sent>, <client's real address>".
        #expect(nginx.resolve(peer: "127.0.0.1", forwardedFor: ["10.9.9.9, 203.0.113.9"]) == "203.0.113.9")
        #expect(nginx.resolve(peer: "127.0.0.1", forwardedFor: ["10.9.9.9", "203.0.113.9"]) == "203.0.113.9", "as separate header lines too")
    }

    @Test func aChainOfTrustedProxiesIsWalkedFromTheRight() {
        let resolver = ClientAddressResolver(trustedProxies: ["127.0.0.1", "10.0.0.2", "10.0.0.3"])
        #expect(resolver.resolve(peer: "127.0.0.1", forwardedFor: ["6.6.6.6, 203.0.113.9, 10.0.0.3, 10.0.0.2"]) == "203.0.113.9")
    }

    @Test func whenEveryHopIsTrustedTheLeftMostIsTheClient() {
        let resolver = ClientAddressResolver(trustedProxies: ["127.0.0.1", "10.0.0.2"])
        #expect(resolver.resolve(peer: "127.0.0.1", forwardedFor: ["10.0.0.2, 127.0.0.1"]) == "10.0.0.2")
    }

    @Test func aMissingOrEmptyHeaderLeavesThePeer() {
        #expect(nginx.resolve(peer: "127.0.0.1", forwardedFor: []) == "127.0.0.1")
        #expect(nginx.resolve(peer: "127.0.0.1", forwardedFor: [""]) == "127.0.0.1")
        #expect(nginx.resolve(peer: nil, forwardedFor: ["203.0.113.9"]) == nil)
    }

    @Test func anEntryThatIsNotAnAddressEndsTheWalkAtTheHopThatPassedItOn() {
        let resolver = ClientAddressResolver(trustedProxies: ["127.0.0.1", "10.0.0.2"])
        #expect(resolver.resolve(peer: "127.0.0.1", forwardedFor: ["203.0.113.9, unknown, 10.0.0.2"]) == "10.0.0.2")
        #expect(resolver.resolve(peer: "127.0.0.1", forwardedFor: ["<script>"]) == "127.0.0.1")
    }

    @Test func addressesAreComparedCanonically() {
        let resolver = ClientAddressResolver(trustedProxies: ["::1", "10.0.0.1"])
        // IPv6 spelled differently, an IPv4-mapped peer (a dual-stack listener), ports and brackets.
        #expect(resolver.resolve(peer: "0:0:0:0:0:0:0:1", forwardedFor: ["2001:DB8:0:0:0:0:0:7"]) == "2001:db8::7")
        #expect(resolver.resolve(peer: "::ffff:10.0.0.1", forwardedFor: ["203.0.113.9:51234"]) == "203.0.113.9")
        #expect(resolver.resolve(peer: "::1", forwardedFor: ["[2001:db8::7]:443"]) == "2001:db8::7")
        #expect(resolver.resolve(peer: "::ffff:198.51.100.7", forwardedFor: ["203.0.113.9"]) == "198.51.100.7")
    }

    @Test func canonicalFormsOfAddresses() {
        #expect(ClientAddressResolver.canonical(" 203.0.113.9 ") == "203.0.113.9")
        #expect(ClientAddressResolver.canonical("[::1]") == "::1")
        #expect(ClientAddressResolver.canonical("host.example") == nil)
        #expect(ClientAddressResolver.canonical("203.0.113.9:80:80") == nil)
        #expect(ClientAddressResolver.canonical("") == nil)
    }

    @Test func perAddressLimitsCountAnIPv6ClientByItsSlash64() {
        #expect(ClientAddressResolver.limitKey("2001:db8::1") == "2001:db8::/64")
        #expect(ClientAddressResolver.limitKey("2001:db8::2") == "2001:db8::/64")
        #expect(ClientAddressResolver.limitKey("2001:db8:0:1::1") == "2001:db8:0:1::/64")
        #expect(ClientAddressResolver.limitKey("::1") == "::/64")
        #expect(ClientAddressResolver.limitKey("203.0.113.7") == "203.0.113.7")
        #expect(ClientAddressResolver.limitKey("not an address") == "not an address")
    }
}
