import Foundation
import JWTKit
import Testing

@testable import brokerd

/// Client JWTs: what is accepted, and every way a token is refused, with the reason the client sees.
@Suite struct ClientTokenVerifierTests {
    /// A fixed "now", so the time claims are exact.
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    let hourLater = now.addingTimeInterval(3_600)

    private func verify(_ token: String) async throws(ClientAuthError) -> ClientIdentity {
        let verifier = await ClientTokenVerifier(secret: TestTokens.secret)
        return try await verifier.verify(token, now: Self.now)
    }

    /// The refusal of `token`; records an issue when it is accepted. The refusal never echoes it.
    private func refusal(of token: String) async -> ClientAuthError? {
        do {
            let identity = try await verify(token)
            Issue.record("accepted as \(identity.user)")
            return nil
        } catch {
            #expect(!error.description.contains(token), "the refusal must not contain the token")
            if let payload = token.split(separator: ".").dropFirst().first, payload.count > 8 {
                #expect(!error.description.contains(payload))
            }
            return error
        }
    }

    @Test func aValidTokenYieldsItsSubjectAsTheUser() async throws {
        let token = try await TestTokens.sign(ClientClaims(subject: "alice", expiration: hourLater))
        let identity = try await verify(token)
        let expiresAt = Int64(hourLater.timeIntervalSince1970) * 1_000_000
        #expect(identity == ClientIdentity(user: "alice", allowList: nil, expiresAt: expiresAt))
    }

    @Test(arguments: [9_007_199_254_740_991.0, 9_223_372_036_855.0])
    func aTokenThatNeverExpiresIsAcceptedWithTheLatestExpiry(seconds: Double) async throws {
        // JavaScript's Number.MAX_SAFE_INTEGER, a common "never", and the first second past Int64 microseconds.
        let never = Date(timeIntervalSince1970: seconds)
        let token = try await TestTokens.sign(ClientClaims(subject: "alice", expiration: never))
        #expect(try await verify(token).expiresAt == .max)
    }

    @Test func aValidTokenCarriesItsAllowList() async throws {
        let allow = ["strategy": ["volume_wave"], "news": ["all"]]
        let token = try await TestTokens.sign(ClientClaims(subject: "bob", expiration: hourLater, allow: allow))
        let identity = try await verify(token)
        #expect(identity.allowList == (try SubscriptionAllowList(claim: allow)))
    }

    @Test func aTokenPastItsExpiryIsRefusedAsExpired() async throws {
        let expiry = Self.now.addingTimeInterval(-1)
        let token = try await TestTokens.sign(ClientClaims(subject: "alice", expiration: expiry))
        let error = await refusal(of: token)
        #expect(error == .expired(at: expiry))
        #expect(error?.closeReason == "token expired")
    }

    @Test func aTokenExpiringExactlyNowIsRefused() async throws {
        let token = try await TestTokens.sign(ClientClaims(subject: "alice", expiration: Self.now))
        #expect(await refusal(of: token) == .expired(at: Self.now))
    }

    @Test func aTokenWithoutExpiryIsRefused() async throws {
        let token = try await TestTokens.sign(ClientClaims(subject: "alice"))
        let error = await refusal(of: token)
        #expect(error == .missingExpiration)
        #expect(error?.closeReason == "token has no exp")
    }

    @Test func aTokenBeforeItsNotBeforeTimeIsRefused() async throws {
        let start = Self.now.addingTimeInterval(60)
        let token = try await TestTokens.sign(ClientClaims(subject: "alice", expiration: hourLater, notBefore: start))
        let error = await refusal(of: token)
        #expect(error == .notYetValid(until: start))
        #expect(error?.closeReason == "token not yet valid")
    }

    @Test func aTokenIsValidFromItsNotBeforeTimeOn() async throws {
        let token = try await TestTokens.sign(ClientClaims(subject: "alice", expiration: hourLater, notBefore: Self.now))
        #expect(try await verify(token).user == "alice")
    }

    @Test func aTokenSignedWithAnotherSecretIsRefusedAsForged() async throws {
        let token = try await TestTokens.sign(
            ClientClaims(subject: "alice", expiration: hourLater), secret: "another-secret-of-at-least-32-bytes!!")
        let error = await refusal(of: token)
        #expect(error == .badSignature(algorithm: "HS256"))
        #expect(error?.closeReason == "invalid token signature")
    }

    @Test func aTokenWhoseClaimsWereEditedAfterSigningIsRefusedAsForged() async throws {
        let token = try await TestTokens.valid(user: "alice", now: Self.now)
        let parts = token.split(separator: ".").map(String.init)
        let forgedClaims = try JSONSerialization.data(withJSONObject: ["sub": "admin", "exp": hourLater.timeIntervalSince1970])
        let encoded = forgedClaims.base64EncodedString()
            .replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
        #expect(await refusal(of: [parts[0], encoded, parts[2]].joined(separator: ".")) == .badSignature(algorithm: "HS256"))
    }

    @Test func anUnsignedNoneTokenIsRefusedForItsAlgorithm() async throws {
        let token = try await TestTokens.unsecured(ClientClaims(subject: "alice", expiration: hourLater))
        let error = await refusal(of: token)
        #expect(error == .unsupportedAlgorithm("none", accepted: ["HS256"]))
        #expect(error?.closeReason == "token algorithm not accepted (HS256 only)")
    }

    @Test func anHS384TokenWithTheRightSecretIsRefusedForItsAlgorithm() async throws {
        let token = try await TestTokens.sign(ClientClaims(subject: "alice", expiration: hourLater), digest: .sha384)
        #expect(await refusal(of: token) == .unsupportedAlgorithm("HS384", accepted: ["HS256"]))
    }

    @Test func aHeaderAlgWithALineBreakCannotForgeALogLine() async throws {
        let token = try await TestTokens.sign(
            ClientClaims(subject: "alice", expiration: hourLater), header: ["alg": "x\n2026 crit FAKE"])
        let error = try #require(await refusal(of: token))
        #expect(error == .unsupportedAlgorithm("x\n2026 crit FAKE", accepted: ["HS256"]))
        #expect(!error.details.contains("\n"), "\(error.details)")
        #expect(error.details.contains(#"'x\n2026 crit FAKE'"#), "\(error.details)")
    }

    @Test func anHS256SignatureUnderAnotherAlgorithmsHeaderIsRefused() async throws {
        // jwt-kit alone would accept this: it verifies with the key's algorithm whatever the header says.
        let token = try await TestTokens.sign(
            ClientClaims(subject: "alice", expiration: hourLater), header: ["alg": "HS512"])
        #expect(await refusal(of: token) == .unsupportedAlgorithm("HS512", accepted: ["HS256"]))
    }

    @Test(arguments: ["", "abc", "a.b", "a.b.c.d", "..", "%%%.e30.sig", "bm90IGpzb24.e30.c2ln"])
    func aStringThatIsNoJWTIsRefusedAsMalformed(token: String) async throws {
        let error = try #require(await refusal(of: token))
        guard case .malformedToken = error else {
            Issue.record("expected malformedToken, got \(error)")
            return
        }
        #expect(error.closeReason == "malformed token")
    }

    @Test func claimsOfTheWrongTypeAreRefusedAsMalformed() async throws {
        let token = try await TestTokens.sign(TestTokens.RawClaims(["sub": "alice", "exp": "tomorrow"]))
        let error = try #require(await refusal(of: token))
        guard case .malformedToken = error else {
            Issue.record("expected malformedToken, got \(error)")
            return
        }
    }

    @Test func aTokenWithoutSubjectIsRefused() async throws {
        let token = try await TestTokens.sign(ClientClaims(expiration: hourLater))
        let error = await refusal(of: token)
        #expect(error == .missingSubject)
        #expect(error?.closeReason == "token has no sub")
    }

    @Test(arguments: ["", "tab\there", String(repeating: "u", count: 200)])
    func aSubjectThatIsNoUsableUserIDIsRefused(subject: String) async throws {
        let token = try await TestTokens.sign(ClientClaims(subject: subject, expiration: hourLater))
        let error = try #require(await refusal(of: token))
        guard case .invalidSubject = error else {
            Issue.record("expected invalidSubject, got \(error)")
            return
        }
    }

    @Test func anAllowClaimNamingAnUnknownTypeIsRefused() async throws {
        let token = try await TestTokens.sign(
            ClientClaims(subject: "alice", expiration: hourLater, allow: ["strategies": ["volume_wave"]]))
        let error = try #require(await refusal(of: token))
        guard case .invalidAllowList(let reason) = error else {
            Issue.record("expected invalidAllowList, got \(error)")
            return
        }
        #expect(reason.contains("'strategies'"))
    }

    @Test func anExpiryFarOutsideTheCalendarIsReportedWithoutCrashing() async throws {
        let error = ClientAuthError.expired(at: Date(timeIntervalSince1970: -1e300))
        #expect(error.details.contains("seconds since 1970"))
    }
}
