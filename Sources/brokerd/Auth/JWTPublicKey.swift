import Foundation
import JWTKit

/// The issuer's public keys (`jwt_public_key`, a PEM file): client tokens signed with a matching
/// private key (RS256 for an RSA key of 2048 bits or more, ES256 for an EC P-256 key) are
/// accepted, so the brokers check tokens without holding what signs them. The file may hold
/// several keys, one PEM block each: during a rotation the old key and the new one are both taken.
struct JWTPublicKey: Sendable, Equatable {
    /// The file it was read from, as configured.
    let path: String
    /// The file's text: a reload that finds it changed takes the new keys.
    let pem: String
    /// The keys, in the file's order.
    let keys: [Key]

    enum Key: Sendable {
        case rsa(Insecure.RSA.PublicKey)
        case ecdsa(ES256PublicKey)

        /// The one algorithm its tokens are signed with.
        var algorithm: String {
            switch self {
            case .rsa: "RS256"
            case .ecdsa: "ES256"
            }
        }
    }

    /// The algorithms its keys' tokens are signed with, sorted.
    var algorithms: [String] { Set(keys.map(\.algorithm)).sorted() }

    /// The keys in `pem` (read from `path`), or why one of them is none.
    init(path: String, pem: String) throws(SettingRejection) {
        self.path = path
        self.pem = pem
        let blocks = Self.blocks(in: pem)
        guard blocks.count > 1 else {
            keys = [try Self.key(in: pem)]
            return
        }
        var keys: [Key] = []
        for (index, block) in blocks.enumerated() {
            do throws(SettingRejection) {
                keys.append(try Self.key(in: block))
            } catch {
                throw SettingRejection("key \(index + 1) of \(blocks.count) \(error.reason)")
            }
        }
        self.keys = keys
    }

    /// The one key of a PEM block, or why it is none.
    private static func key(in pem: String) throws(SettingRejection) -> Key {
        if let key = try? ES256PublicKey(pem: pem) { return .ecdsa(key) }
        if let key = try? Insecure.RSA.PublicKey(pem: pem) { return .rsa(key) }
        if pem.contains("PRIVATE KEY") {
            throw SettingRejection("holds a private key: give the broker the public key only (openssl pkey -in key.pem -pubout)")
        }
        throw SettingRejection(
            "is not a PEM public key of a kind the broker takes: RSA, 2048 bits or more (RS256), or EC P-256 (ES256)")
    }

    /// The `-----BEGIN …-----` … `-----END …-----` blocks of `pem`, in order.
    static func blocks(in pem: String) -> [String] {
        var blocks: [String] = []
        var rest = pem[...]
        while let begin = rest.range(of: "-----BEGIN "),
            let end = rest.range(of: "-----END ", range: begin.upperBound..<rest.endIndex),
            let close = rest.range(of: "-----", range: end.upperBound..<rest.endIndex)
        {
            blocks.append(String(rest[begin.lowerBound..<close.upperBound]))
            rest = rest[close.upperBound...]
        }
        return blocks
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.path == rhs.path && lhs.pem == rhs.pem
    }
}
