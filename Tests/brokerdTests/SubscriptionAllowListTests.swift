import Broker
import Testing

@testable import brokerd

/// The `allow` claim: which subscriptions a token permits.
@Suite struct SubscriptionAllowListTests {
    private func list(_ claim: [String: [String]]) throws -> SubscriptionAllowList {
        try SubscriptionAllowList(claim: claim)
    }

    private func sub(_ type: SubscriptionType, _ target: String) -> Subscription {
        Subscription(type: type, target: target)
    }

    @Test func aListedTargetIsPermittedAndAnUnlistedOneIsNot() throws {
        let allow = try list(["strategy": ["volume_wave", "breakout"]])
        #expect(allow.permits(sub(.strategy, "volume_wave")))
        #expect(allow.permits(sub(.strategy, "breakout")))
        #expect(!allow.permits(sub(.strategy, "momentum")))
    }

    @Test func anAlertIsAllowedWhereASubscriptionCouldShowThePrice() throws {
        #expect(try list(["stock": ["600519"]]).alertRefusal(code: "600519", strategies: []) == nil)
        #expect(try list(["market": ["sh"]]).alertRefusal(code: "600519", strategies: []) == nil)
        #expect(try list(["strategy": ["volume_wave"]]).alertRefusal(code: "600519", strategies: ["breakout", "volume_wave"]) == nil)

        let narrow = try list(["stock": ["000001"], "market": ["sz"], "strategy": ["volume_wave"], "news": ["all"]])
        let refusal = try #require(narrow.alertRefusal(code: "600519", strategies: ["breakout"]))
        #expect(refusal.contains("'600519'"))
        #expect(narrow.alertRefusal(code: "000001", strategies: []) == nil)
        // A code on no board is reachable only as a stock or through a strategy.
        #expect(try list(["market": ["sh", "sz", "bj"]]).alertRefusal(code: "AAPL", strategies: []) != nil)
    }

    @Test func targetsMatchExactlyAndCaseSensitively() throws {
        let allow = try list(["strategy": ["volume_wave"]])
        #expect(!allow.permits(sub(.strategy, "Volume_Wave")))
        #expect(!allow.permits(sub(.strategy, "volume_wave2")))
    }

    @Test func theWildcardPermitsEveryTargetOfItsTypeOnly() throws {
        let allow = try list(["stock": ["*"]])
        #expect(allow.permits(sub(.stock, "600519")))
        #expect(allow.permits(sub(.stock, "000001")))
        #expect(!allow.permits(sub(.market, "sh")))
    }

    @Test func aTypeTheClaimDoesNotListIsRefused() throws {
        let allow = try list(["strategy": ["volume_wave"], "news": ["all"]])
        #expect(!allow.permits(sub(.stock, "600519")))
        #expect(!allow.permits(sub(.market, "sz")))
        #expect(allow.permits(sub(.news, "all")))
        #expect(!allow.permits(sub(.news, "macro")))
    }

    @Test func anEmptyListOrAnEmptyClaimAllowsNothingButOwnAlerts() throws {
        let empty = try list([:])
        #expect(!empty.permits(sub(.strategy, "volume_wave")))
        #expect(empty.permits(sub(.alerts, "me")))
        #expect(!(try list(["stock": []])).permits(sub(.stock, "600519")))
    }

    @Test func ownAlertsNeedNoGrant() throws {
        let allow = try list(["strategy": ["volume_wave"]])
        #expect(allow.permits(sub(.alerts, "me")))
    }

    @Test func anIdentityWithoutAllowListPermitsEverything() {
        let identity = ClientIdentity(user: "alice", allowList: nil)
        for type in SubscriptionType.allCases { #expect(identity.permits(sub(type, "x"))) }
    }

    @Test(arguments: ["strategies", "alerts", "STOCK", ""])
    func aClaimNamingNoGrantableTypeIsInvalid(name: String) {
        #expect(throws: ClientAuthError.self) { try SubscriptionAllowList(claim: [name: ["*"]]) }
    }

    @Test func anEmptyTargetIsInvalid() {
        #expect(throws: ClientAuthError.self) { try SubscriptionAllowList(claim: ["stock": [""]]) }
    }

    @Test func theRefusalNamesTheSubscriptionAndWhatIsAllowed() throws {
        let allow = try list(["strategy": ["volume_wave"]])
        let unlisted = try #require(allow.refusal(of: sub(.strategy, "momentum")))
        #expect(unlisted.contains("strategy 'momentum'") && unlisted.contains("volume_wave"))
        let unknownType = try #require(allow.refusal(of: sub(.stock, "600519")))
        #expect(unknownType.contains("does not allow stock subscriptions"))
        #expect(allow.refusal(of: sub(.strategy, "volume_wave")) == nil)
    }
}
