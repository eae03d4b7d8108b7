import Broker
import Foundation
import JWTKit

/// Checks client JWTs against the configured HS256 secret and turns them into a `ClientIdentity`.
///
/// Checks, in order: the token's shape, that its header names HS256 (jwt-kit verifies with the
/// key's own algorithm whatever the header says, so `none` or HS384 headers are refused here
/// explicitly), the signature, then the claims: `exp` required and in the future, `nbf` (if any)
/// not in the future, `sub` a usable user id, `allow` (if any) a valid allow-list.
struct ClientTokenVerifier: Sendable {
    /// The only algorithm accepted.
    static let algorithm = "HS256"

    private let keys: JWTKeyCollection

    /// A verifier for tokens signed with `secret` (the `jwt_secret` setting).
    init(secret: String) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
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
        guard header.alg == Self.algorithm else { throw .unsupportedAlgorithm(header.alg) }
        let claims: ClientClaims
        do {
            claims = try await keys.verify(token, as: ClientClaims.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .badSignature
        } catch let error as JWTError where error.errorType == .malformedToken {
            // jwt-kit checks the signature before it decodes the claims, so this is nearly always
            // an issuer that signed claims of the wrong types (else a header kid that is no string).
            throw .malformedToken(
                reason: "the header or claims do not decode (kid and sub must be strings, exp and nbf numbers, allow an object of string arrays)")
        } catch {
            // What is left is the signature part failing to decode from base64url.
            throw .malformedToken(reason: "the signature is not base64url")
        }
        return try Self.identity(from: claims, now: now)
    }

    /// Checks the claims of a token whose signature held.
    static func identity(from claims: ClientClaims, now: Date) throws(ClientAuthError) -> ClientIdentity {
        guard let expiration = claims.expiration?.value else { throw .missingExpiration }
        // RFC 7519 §4.1.4: not accepted on or after exp. §4.1.5: not accepted before nbf.
        guard now < expiration else { throw .expired(at: expiration) }
        if let notBefore = claims.notBefore?.value, now < notBefore { throw .notYetValid(until: notBefore) }
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

    /// The JOSE header fields this verifier reads.
    private struct Header: Decodable {
        let alg: String?
    }

    private static func base64URLDecoded(_ part: Substring) -> Data? {
        var base64 = String(part).replacing("-", with: "+").replacing("_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}
