import JWTKit

/// The issuer's public key (`jwt_public_key`, a PEM file): client tokens signed with its private
/// key (RS256 for an RSA key of 2048 bits or more, ES256 for an EC P-256 key) are accepted, so
/// the brokers check tokens without holding what signs them.
struct JWTPublicKey: Sendable, Equatable {
    /// The file it was read from, as configured.
    let path: String
    /// The file's text: a reload that finds it changed takes the new key.
    let pem: String
    let key: Key

    enum Key: Sendable {
        case rsa(Insecure.RSA.PublicKey)
        case ecdsa(ES256PublicKey)
    }

    /// The one algorithm its tokens are signed with.
    var algorithm: String {
        switch key {
        case .rsa: "RS256"
        case .ecdsa: "ES256"
        }
    }

    /// The key in `pem` (read from `path`), or why it is none.
    init(path: String, pem: String) throws(SettingRejection) {
        self.path = path
        self.pem = pem
        if let key = try? ES256PublicKey(pem: pem) {
            self.key = .ecdsa(key)
        } else if let key = try? Insecure.RSA.PublicKey(pem: pem) {
            self.key = .rsa(key)
        } else if pem.contains("PRIVATE KEY") {
            throw SettingRejection("holds a private key: give the broker the public key only (openssl pkey -in key.pem -pubout)")
        } else {
            throw SettingRejection(
                "is not a PEM public key of a kind the broker takes: RSA, 2048 bits or more (RS256), or EC P-256 (ES256)")
        }
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.path == rhs.path && lhs.pem == rhs.pem
    }
}
