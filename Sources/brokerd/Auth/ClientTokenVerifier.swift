import Broker
import Foundation
import JWTKit
import Logging

/// Checks client JWTs against the configured HS256 secret and the issuer's public key (RS256 or
/// ES256), and turns them into a `ClientIdentity`.
///
/// Checks, in order: the token's shape, that its header names an algorithm a configured key
/// signs with (jwt-kit verifies with the key's own algorithm whatever the header says, so `none`,
/// HS384 or an HS256 header over a public key are refused here explicitly; each algorithm has its
/// own key, so a public key is never taken for an HMAC secret), the signature, then the claims:
/// `exp` required and in the future, `nbf` (if any) not in the future, `aud` naming `jwt_audience`
/// and `iss` equal to `jwt_issuer` when those are set, `sub` a usable user id, `allow` (if any) a
/// valid allow-list.
struct ClientTokenVerifier: Sendable {
    /// The keys of each accepted algorithm (`HS256`, `RS256`, `ES256`), tried in order: a
    /// `jwt_public_key` file may hold more than one of an algorithm (a rotation).
    private let keys: [String: [JWTKeyCollection]]
    /// The issuer's key set (`jwt_jwks_url`): RS256 and ES256 tokens that name a key (`kid`) are
    /// checked with it, when set.
    let jwks: JWKSKeys?
    /// The `aud` a token must name; nil checks none.
    let audience: String?
    /// The `iss` a token must have; nil checks none.
    let issuer: String?

    /// The algorithms the key set's keys sign with.
    static let jwksAlgorithms: Set = ["RS256", "ES256"]

    /// The accepted algorithms, sorted.
    var algorithms: [String] { Set(keys.keys).union(jwks == nil ? [] : Self.jwksAlgorithms).sorted() }

    /// A verifier for HS256 tokens signed with `secret` (the `jwt_secret` setting) alone.
    init(secret: String) async {
        await self.init(secret: secret, publicKey: nil, audience: nil, issuer: nil)
    }

    /// A verifier of the client tokens `auth` configures; nil when it configures no key (clients
    /// are anonymous). Its public key must have been read (`Configuration.load`); its key set is
    /// fetched now (a failure is logged: tokens it would check are refused until a fetch works).
    init?(auth: Configuration.Auth, logger: Logger) async {
        guard auth.checksClientTokens else { return nil }
        let jwks = auth.jwtJWKSURL.map { JWKSKeys(url: $0, logger: logger) }
        await jwks?.refresh()
        await self.init(
            secret: auth.jwtSecret, publicKey: auth.jwtPublicKey, jwks: jwks, audience: auth.jwtAudience, issuer: auth.jwtIssuer)
    }

    init(secret: String?, publicKey: JWTPublicKey?, jwks: JWKSKeys? = nil, audience: String?, issuer: String?) async {
        var keys: [String: [JWTKeyCollection]] = [:]
        if let secret {
            keys["HS256"] = [await JWTKeyCollection().add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)]
        }
        for key in publicKey?.keys ?? [] {
            let collection = switch key {
            case .rsa(let key): await JWTKeyCollection().add(rsa: key, digestAlgorithm: .sha256)
            case .ecdsa(let key): await JWTKeyCollection().add(ecdsa: key)
            }
            keys[key.algorithm, default: []].append(collection)
        }
        self.keys = keys
        self.jwks = jwks
        self.audience = audience
        self.issuer = issuer
    }

    /// The identity `token` proves at `now`, or why it proves none.
    func verify(_ token: String, now: Date = Date()) async throws(ClientAuthError) -> ClientIdentity {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        // An empty signature is left to the checks below: it is what an `alg: none` token has.
        guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw .malformedToken(reason: "expected three base64url parts (header.claims.signature) separated by dots")
        }
        guard let headerData = Self.base64URLDecoded(parts[0]),
            let header = try? JSONDecoder().decode(Header.self, from: headerData)
        else {
            throw .malformedToken(reason: "the header is not base64url-encoded JSON with a string alg")
        }
        guard let algorithm = header.alg, let candidates = try await keys(for: algorithm, kid: header.kid) else {
            throw .unsupportedAlgorithm(header.alg, accepted: algorithms)
        }
        var claims: ClientClaims?
        do {
            // The keys of the algorithm one after the other, until one's signature holds.
            for key in candidates where claims == nil {
                do {
                    claims = try await key.verify(token, as: ClientClaims.self)
                } catch let error as JWTError where error.errorType == .signatureVerificationFailed && key !== candidates.last {
                    continue
                }
            }
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .badSignature(algorithm: algorithm)
        } catch let error as JWTError where error.errorType == .malformedToken {
            // jwt-kit checks the signature before it decodes the claims, so this is nearly always
            // an issuer that signed claims of the wrong types (else a header kid that is no string).
            throw .malformedToken(
                reason: "the header or claims do not decode (kid, sub and iss must be strings, aud a string or an array of them, exp and nbf numbers, allow an object of string arrays)")
        } catch {
            // What is left is the signature part failing to decode from base64url.
            throw .malformedToken(reason: "the signature is not base64url")
        }
        guard let claims else { throw .badSignature(algorithm: algorithm) }
        return try identity(from: claims, now: now)
    }

    /// Checks the claims of a token whose signature held.
    func identity(from claims: ClientClaims, now: Date) throws(ClientAuthError) -> ClientIdentity {
        guard let expiration = claims.expiration?.value else { throw .missingExpiration }
        // RFC 7519 §4.1.4: not accepted on or after exp. §4.1.5: not accepted before nbf.
        guard now < expiration else { throw .expired(at: expiration) }
        if let notBefore = claims.notBefore?.value, now < notBefore { throw .notYetValid(until: notBefore) }
        // RFC 7519 §4.1.3: a token whose aud does not name this recipient is refused.
        if let audience, !(claims.audience?.value.contains(audience) ?? false) { throw .audienceNotAccepted(expected: audience) }
        if let issuer, claims.issuer?.value != issuer { throw .issuerNotAccepted(expected: issuer) }
        guard let user = claims.subject?.value else { throw .missingSubject }
        if let problem = FieldRules.identifierProblem(user, maxLength: Broker.Limits().maxTargetLength) {
            throw .invalidSubject(reason: problem)
        }
        // A "never expires" exp (2^53 - 1 seconds, or a value in microseconds) is past what Int64
        // microseconds hold: such a token does not expire while the broker runs.
        let expiresAt = Int64(exactly: (expiration.timeIntervalSince1970 * 1_000_000).rounded(.down)) ?? .max
        guard let allow = claims.allow else { return ClientIdentity(user: user, allowList: nil, expiresAt: expiresAt) }
        return ClientIdentity(user: user, allowList: try SubscriptionAllowList(claim: allow), expiresAt: expiresAt)
    }

    /// The keys that check a token of `algorithm` naming `kid`: the key set's when it is set, the
    /// algorithm is one of its and the token names a key; else the configured key of the
    /// algorithm; nil for an algorithm no key takes.
    private func keys(for algorithm: String, kid: String?) async throws(ClientAuthError) -> [JWTKeyCollection]? {
        if let jwks, Self.jwksAlgorithms.contains(algorithm), let kid {
            guard let keys = await jwks.keys(for: kid) else { throw .unknownKey(kid) }
            return [keys]
        }
        if let keys = keys[algorithm] { return keys }
        if jwks != nil, Self.jwksAlgorithms.contains(algorithm) {
            throw .malformedToken(reason: "the header names no key (kid): the issuer's key set (jwt_jwks_url) has no key to check it with")
        }
        return nil
    }

    /// The JOSE header fields this verifier reads.
    private struct Header: Decodable {
        let alg: String?
        let kid: String?
    }

    private static func base64URLDecoded(_ part: Substring) -> Data? {
        var base64 = String(part).replacing("-", with: "+").replacing("_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
