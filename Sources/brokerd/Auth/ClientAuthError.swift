import Foundation

/// Why a WebSocket client's token was refused. The connection is closed with 1008 and `closeReason`;
/// `details` goes to the log. Neither ever contains the token.
enum ClientAuthError: Error, Equatable, Sendable {
    /// Auth is on and the upgrade request carried no token.
    case missingToken
    /// Not a compact JWS (three base64url parts with a JSON header and claims).
    case malformedToken(reason: String)
    /// The header names an algorithm no configured key signs with (`none`, HS384, or RS256 with
    /// only a secret...); `accepted` the ones that are.
    case unsupportedAlgorithm(String?, accepted: [String])
    /// The signature does not match the configured secret (HS256) or public key (RS256, ES256).
    case badSignature(algorithm: String)
    /// The token names a key (`kid`) the issuer's key set does not hold, even fetched again.
    case unknownKey(String)
    /// `jwt_audience` is set and the token's `aud` does not name it.
    case audienceNotAccepted(expected: String)
    /// `jwt_issuer` is set and the token's `iss` is not it.
    case issuerNotAccepted(expected: String)
    /// The token has no `exp` claim; brokerd accepts no tokens that never expire.
    case missingExpiration
    /// `exp` is at or before the time of the connect (UTC seconds).
    case expired(at: Date)
    /// `nbf` is after the time of the connect.
    case notYetValid(until: Date)
    /// The token has no `sub` claim, so there is no user to own alerts and sessions.
    case missingSubject
    /// `sub` is not usable as a user id (empty, too long, control characters).
    case invalidSubject(reason: String)
    /// The `allow` claim is not a valid allow-list.
    case invalidAllowList(reason: String)

    /// The WebSocket close reason: short (a close frame allows 123 bytes) and free of token content.
    var closeReason: String {
        switch self {
        case .missingToken: "token required"
        case .malformedToken: "malformed token"
        case .unsupportedAlgorithm(_, let accepted): "token algorithm not accepted (\(accepted.joined(separator: ", ")) only)"
        case .badSignature: "invalid token signature"
        case .unknownKey: "token key not known"
        case .audienceNotAccepted: "token audience not accepted"
        case .issuerNotAccepted: "token issuer not accepted"
        case .missingExpiration: "token has no exp"
        case .expired: "token expired"
        case .notYetValid: "token not yet valid"
        case .missingSubject: "token has no sub"
        case .invalidSubject: "token sub is not a valid user id"
        case .invalidAllowList: "token allow claim is invalid"
        }
    }

    /// What was wrong, for the log line of the refusal: parts of it come from the token, so
    /// control characters are escaped (a header `alg` of `"x\n2026 crit FAKE"` forged a log line).
    var details: String {
        String(
            rawDetails.unicodeScalars.map { scalar in
                scalar.properties.generalCategory == .control ? scalar.escaped(asASCII: true) : String(scalar)
            }.joined())
    }

    private var rawDetails: String {
        switch self {
        case .missingToken:
            "no token in ?token= or Authorization: Bearer"
        case .malformedToken(let reason):
            "malformed token: \(reason)"
        case .unsupportedAlgorithm(let algorithm, let accepted):
            // The header is attacker-controlled: show at most a short prefix of what it named.
            "header alg \(algorithm.map { "'\($0.prefix(16))'" } ?? "missing"); only \(accepted.joined(separator: ", ")) \(accepted.count == 1 ? "is" : "are") accepted"
        case .badSignature(let algorithm):
            "the \(algorithm) signature does not match \(algorithm == "HS256" ? "jwt_secret" : "jwt_public_key")"
        case .unknownKey(let kid):
            "the issuer's key set (jwt_jwks_url) has no key '\(kid.prefix(40))'"
        case .audienceNotAccepted(let expected):
            "the token's aud does not name \(expected) (jwt_audience)"
        case .issuerNotAccepted(let expected):
            "the token's iss is not \(expected) (jwt_issuer)"
        case .missingExpiration:
            "the token has no exp claim; tokens must expire"
        case .expired(let at):
            "the token expired at \(Self.format(at))"
        case .notYetValid(let until):
            "the token is not valid before \(Self.format(until))"
        case .missingSubject:
            "the token has no sub claim (the user id)"
        case .invalidSubject(let reason):
            "the sub claim \(reason)"
        case .invalidAllowList(let reason):
            "the allow claim \(reason)"
        }
    }

    /// The claim's time as the wire shows times; the claim is client input, so a value beyond the
    /// years 0...9999 (which would not fit the formatter's Int64 microseconds) is shown as a number.
    private static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, (-62_167_219_200...253_402_300_799).contains(seconds) else {
            return "\(seconds) seconds since 1970"
        }
        return WireTime.format(microseconds: Int64((seconds * 1_000_000).rounded()))
    }
}

extension ClientAuthError: CustomStringConvertible {
    /// `close reason: details`, for logs.
    var description: String { "\(closeReason): \(details)" }
}
