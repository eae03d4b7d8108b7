import Foundation
import JWTKit

@testable import brokerd

/// Mints client tokens for the tests with jwt-kit, as an issuer would.
enum TestTokens {
    /// The `jwt_secret` the auth tests configure: over 64 bytes, so HS384 and HS512 tokens can be signed
    /// with it too (jwt-kit asserts a key at least as long as the hash output).
    static let secret = "test-secret-64-bytes-long-so-that-hs256-hs384-and-hs512-accept-it"

    /// Claims in an arbitrary shape, for tokens brokerd must refuse as undecodable.
    struct RawClaims: JWTPayload {
        let fields: [String: String]
        func encode(to encoder: any Encoder) throws { try fields.encode(to: encoder) }
        init(_ fields: [String: String]) { self.fields = fields }
        init(from decoder: any Decoder) throws { fields = try [String: String](from: decoder) }
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    /// A token over `claims`, signed with `secret` by `digest` (HS256 unless told).
    static func sign(
        _ claims: some JWTPayload, secret: String = secret, digest: DigestAlgorithm = .sha256, header: JWTHeader = JWTHeader()
    ) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: digest)
        return try await keys.sign(claims, header: header)
    }

    /// An unsigned `alg: none` token over `claims`.
    static func unsecured(_ claims: some JWTPayload) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.addUnsecuredNone()
        return try await keys.sign(claims)
    }

    /// A token for `user` that expires at `expiry` (whole seconds: the claim has no fraction).
    static func expiring(user: String, at expiry: Date) async throws -> String {
        try await sign(ClientClaims(subject: user, expiration: expiry))
    }

    /// `token` with its signature's first character changed: its first byte differs, so the
    /// signature cannot check out. (Changing the last characters may not: the last character of an
    /// HS256 signature carries 4 bits, and lenient base64 decoders ignore the 2 it has to spare.)
    static func tampered(_ token: String) -> String {
        guard let dot = token.lastIndex(of: "."), token.index(after: dot) < token.endIndex else { return token + "x" }
        let first = token.index(after: dot)
        return token.replacingCharacters(in: first...first, with: token[first] == "A" ? "B" : "A")
    }

    /// A valid token for `user`, expiring an hour after `now`.
    static func valid(
        user: String, now: Date = Date(), allow: [String: [String]]? = nil
    ) async throws -> String {
        try await sign(ClientClaims(subject: user, expiration: now.addingTimeInterval(3_600), allow: allow))
    }
}
