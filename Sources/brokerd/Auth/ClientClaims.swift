import Foundation
import JWTKit

/// The claims brokerd reads from a client token. All are optional here so that a token missing
/// one is refused with its own reason (`ClientTokenVerifier` enforces them), not as undecodable.
struct ClientClaims: JWTPayload, Equatable {
    /// `sub`: the user id; owns the client's alerts and sessions.
    var subject: SubjectClaim?
    /// `exp`: required; the token is refused at and after this time.
    var expiration: ExpirationClaim?
    /// `nbf`: optional; the token is refused before this time.
    var notBefore: NotBeforeClaim?
    /// `allow`: optional subscription allow-list (see `SubscriptionAllowList`).
    var allow: [String: [String]]?
    /// `aud`: the recipients; must name `jwt_audience` when that is set.
    var audience: AudienceClaim?
    /// `iss`: who issued it; must be `jwt_issuer` when that is set.
    var issuer: IssuerClaim?

    init(
        subject: String? = nil, expiration: Date? = nil, notBefore: Date? = nil, allow: [String: [String]]? = nil,
        audience: [String]? = nil, issuer: String? = nil
    ) {
        self.subject = subject.map { SubjectClaim(value: $0) }
        self.expiration = expiration.map { ExpirationClaim(value: $0) }
        self.notBefore = notBefore.map { NotBeforeClaim(value: $0) }
        self.allow = allow
        self.audience = audience.map { AudienceClaim(value: $0) }
        self.issuer = issuer.map { IssuerClaim(value: $0) }
    }

    enum CodingKeys: String, CodingKey {
        case subject = "sub"
        case expiration = "exp"
        case notBefore = "nbf"
        case allow
        case audience = "aud"
        case issuer = "iss"
    }

    /// jwt-kit calls this after the signature checked out. The time claims are checked by
    /// `ClientTokenVerifier` right after it, against the verifier's clock (which tests pin), so
    /// there is nothing to do here.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
