import Foundation
import JWTKit
import Testing
import TestSupport
import _CryptoExtras

@testable import brokerd

/// Client tokens checked with the issuer's public key (`jwt_public_key`: RS256, ES256) and the
/// audience and issuer claims (`jwt_audience`, `jwt_issuer`).
@Suite struct PublicKeyTokenTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let claims = ClientClaims(subject: "alice", expiration: now.addingTimeInterval(3_600))

    /// An EC P-256 key pair: the private key signs, `pem` is the public key's file.
    struct ECIssuer {
        let privateKey = ES256PrivateKey()
        var pem: String { privateKey.publicKey.pemRepresentation }

        func sign(_ claims: ClientClaims, header: JWTHeader = JWTHeader()) async throws -> String {
            try await JWTKeyCollection().add(ecdsa: privateKey).sign(claims, header: header)
        }
    }

    /// An RSA key pair of `bits`.
    struct RSAIssuer {
        let privatePEM: String
        let pem: String

        init(bits: Int = 2048) throws {
            let key = try _RSA.Signing.PrivateKey(unsafeKeySize: .init(bitCount: bits))
            privatePEM = key.pemRepresentation
            pem = key.publicKey.pemRepresentation
        }

        func sign(_ claims: ClientClaims) async throws -> String {
            try await JWTKeyCollection().add(rsa: Insecure.RSA.PrivateKey(pem: privatePEM), digestAlgorithm: .sha256).sign(claims)
        }
    }

    private func verifier(
        secret: String? = nil, pem: String?, audience: String? = nil, issuer: String? = nil
    ) async throws -> ClientTokenVerifier {
        let key = try pem.map { pem throws(SettingRejection) in try JWTPublicKey(path: "issuer.pem", pem: pem) }
        return await ClientTokenVerifier(secret: secret, publicKey: key, audience: audience, issuer: issuer)
    }

    private func refusal(_ token: String, by verifier: ClientTokenVerifier) async -> ClientAuthError? {
        do {
            let identity = try await verifier.verify(token, now: Self.now)
            Issue.record("accepted as \(identity.user)")
            return nil
        } catch {
            return error
        }
    }

    @Test func anES256TokenIsCheckedWithTheIssuersPublicKey() async throws {
        let issuer = ECIssuer()
        let verifier = try await verifier(pem: issuer.pem)
        #expect(verifier.algorithms == ["ES256"])
        #expect(try await verifier.verify(try await issuer.sign(Self.claims), now: Self.now).user == "alice")
        // Another key's signature, and HS256 (no secret configured), are refused.
        let stranger = try await ECIssuer().sign(Self.claims)
        #expect(await refusal(stranger, by: verifier) == .badSignature(algorithm: "ES256"))
        let hmac = try await TestTokens.sign(Self.claims)
        let refused = await refusal(hmac, by: verifier)
        #expect(refused == .unsupportedAlgorithm("HS256", accepted: ["ES256"]))
        #expect(refused?.closeReason == "token algorithm not accepted (ES256 only)")
    }

    @Test func anRS256TokenIsCheckedWithAnRSAKeyAndASecretStillTakesHS256() async throws {
        let issuer = try RSAIssuer()
        let verifier = try await verifier(secret: TestTokens.secret, pem: issuer.pem)
        #expect(verifier.algorithms == ["HS256", "RS256"])
        #expect(try await verifier.verify(try await issuer.sign(Self.claims), now: Self.now).user == "alice")
        #expect(try await verifier.verify(try await TestTokens.sign(Self.claims), now: Self.now).user == "alice")
        let other = try await RSAIssuer().sign(Self.claims)
        let refused = await refusal(other, by: verifier)
        #expect(refused == .badSignature(algorithm: "RS256"))
        #expect(refused?.details == "the RS256 signature does not match jwt_public_key")
    }

    @Test func thePublicKeyIsNeverTakenForAnHMACSecret() async throws {
        // The classic confusion: an HS256 token whose "secret" is the public key's PEM text.
        let issuer = try RSAIssuer()
        let verifier = try await verifier(pem: issuer.pem)
        let forged = try await TestTokens.sign(Self.claims, secret: issuer.pem)
        #expect(await refusal(forged, by: verifier) == .unsupportedAlgorithm("HS256", accepted: ["RS256"]))
        // With a secret as well, the HS256 token is checked with the secret alone.
        let both = try await self.verifier(secret: TestTokens.secret, pem: issuer.pem)
        #expect(await refusal(forged, by: both) == .badSignature(algorithm: "HS256"))
        // An RS256 header over an HMAC signature does not pass either.
        let relabelled = try await TestTokens.sign(Self.claims, header: ["alg": "RS256"])
        #expect(await refusal(relabelled, by: both) == .badSignature(algorithm: "RS256"))
    }

    @Test func audienceAndIssuerAreCheckedWhenConfigured() async throws {
        let verifier = try await verifier(secret: TestTokens.secret, pem: nil, audience: "brokerd", issuer: "https://auth.example.com")
        func token(audience: [String]?, issuer: String?) async throws -> String {
            try await TestTokens.sign(ClientClaims(
                subject: "alice", expiration: Self.now.addingTimeInterval(3_600), audience: audience, issuer: issuer))
        }
        let good = try await token(audience: ["other", "brokerd"], issuer: "https://auth.example.com")
        #expect(try await verifier.verify(good, now: Self.now).user == "alice")
        let wrongAudience = await refusal(try await token(audience: ["other"], issuer: "https://auth.example.com"), by: verifier)
        #expect(wrongAudience == .audienceNotAccepted(expected: "brokerd"))
        #expect(wrongAudience?.closeReason == "token audience not accepted")
        #expect(await refusal(try await token(audience: nil, issuer: "https://auth.example.com"), by: verifier)
            == .audienceNotAccepted(expected: "brokerd"))
        let wrongIssuer = await refusal(try await token(audience: ["brokerd"], issuer: "https://evil.example"), by: verifier)
        #expect(wrongIssuer == .issuerNotAccepted(expected: "https://auth.example.com"))
        #expect(await refusal(try await token(audience: ["brokerd"], issuer: nil), by: verifier)
            == .issuerNotAccepted(expected: "https://auth.example.com"))
        // A single audience may be a string (RFC 7519 §4.1.3).
        let stringAudience = try JSONDecoder().decode(ClientClaims.self, from: Data(#"{"aud":"brokerd"}"#.utf8))
        #expect(stringAudience.audience?.value == ["brokerd"])
        // Not configured: not checked.
        let open = try await self.verifier(secret: TestTokens.secret, pem: nil)
        #expect(try await open.verify(try await token(audience: ["other"], issuer: "https://evil.example"), now: Self.now).user == "alice")
    }

    @Test func aKeyFileMayHoldSeveralKeysAndATokenOfAnyOfThemIsTaken() async throws {
        let (old, new, rsa) = (ECIssuer(), ECIssuer(), try RSAIssuer())
        let file = "# rotating: the old key until its tokens are gone\n\(old.pem)\n\(new.pem)\n\(rsa.pem)\n"
        #expect(try JWTPublicKey(path: "keys.pem", pem: file).keys.count == 3)
        let verifier = try await verifier(pem: file)
        #expect(verifier.algorithms == ["ES256", "RS256"])
        for issuer in [old, new] {
            #expect(try await verifier.verify(try await issuer.sign(Self.claims), now: Self.now).user == "alice")
        }
        #expect(try await verifier.verify(try await rsa.sign(Self.claims), now: Self.now).user == "alice")
        // A key not in the file is refused, after the file's keys of its algorithm were all tried.
        #expect(await refusal(try await ECIssuer().sign(Self.claims), by: verifier) == .badSignature(algorithm: "ES256"))
        // Claims a key's signature holds for are checked as ever.
        let expired = ClientClaims(subject: "alice", expiration: Self.now.addingTimeInterval(-1))
        #expect(await refusal(try await new.sign(expired), by: verifier) == .expired(at: Self.now.addingTimeInterval(-1)))
    }

    @Test func aKeyFileMustHoldAPublicKeyOfAKindTheBrokerTakes() throws {
        #expect(try JWTPublicKey(path: "ec.pem", pem: ECIssuer().pem).algorithms == ["ES256"])
        #expect(try JWTPublicKey(path: "rsa.pem", pem: try RSAIssuer().pem).algorithms == ["RS256"])
        func reason(_ pem: String) -> String? {
            do {
                _ = try JWTPublicKey(path: "x.pem", pem: pem)
                return nil
            } catch {
                return error.reason
            }
        }
        #expect(reason(try RSAIssuer().privatePEM)?.contains("holds a private key") == true)
        #expect(reason(ES256PrivateKey().pemRepresentation)?.contains("holds a private key") == true)
        #expect(reason(try RSAIssuer(bits: 1024).pem)?.contains("2048 bits or more") == true)
        #expect(reason("not a key")?.contains("not a PEM public key") == true)
        #expect(reason(ES384PrivateKey().publicKey.pemRepresentation)?.contains("EC P-256") == true)
        // In a file of several, the one that will not do is named.
        #expect(reason(ECIssuer().pem + "\n" + ES256PrivateKey().pemRepresentation) == "key 2 of 2 holds a private key: give the broker the public key only (openssl pkey -in key.pem -pubout)")
        let short = try RSAIssuer(bits: 1024).pem
        #expect(reason(ECIssuer().pem + short + ECIssuer().pem)?.hasPrefix("key 2 of 3 is not a PEM public key") == true)
    }

    @Test func startUpReadsTheKeyFileAndStopsOnOneItCannotUse() throws {
        let dir = try TemporaryDirectory()
        let keyPath = dir.path("issuer.pub.pem")
        let issuer = ECIssuer()
        try issuer.pem.write(toFile: keyPath, atomically: true, encoding: .utf8)
        func load(_ path: String) throws -> Configuration {
            try Configuration.load(
                flags: try ServeOptions.parse(["--config", ConfigurationTests.shippedConfigPath, "--jwt-public-key", path]), environment: [:])
        }
        let loaded = try load(keyPath)
        #expect(loaded.auth.jwtPublicKey?.pem == issuer.pem && loaded.auth.checksClientTokens)
        #expect(throws: ConfigurationError.invalidValue(
            setting: "jwt_public_key", value: "/nonexistent/issuer.pem", source: .flag("--jwt-public-key"), reason: "no such file")
        ) { try load("/nonexistent/issuer.pem") }
        try "junk".write(toFile: keyPath, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try load(keyPath) }

        // A reload of a replaced file at the same path takes the new key.
        try issuer.pem.write(toFile: keyPath, atomically: true, encoding: .utf8)
        let first = try load(keyPath)
        try ECIssuer().pem.write(toFile: keyPath, atomically: true, encoding: .utf8)
        let second = try load(keyPath)
        #expect(first.changes(to: second).applied == [.jwtPublicKey])
        #expect(first.changes(to: first).applied.isEmpty)
    }
}
