import Crypto

/// Signs what a node publishes on the shared channels and the shared log, and checks what it
/// reads, with a secret every node of a deployment shares (`redis_secret`): HMAC-SHA256 of the
/// message, in a first key, `{"sig":"<64 hex digits>",…}`.
///
/// The signature covers the message's exact bytes without it (`{` and everything after the
/// `sig` key's comma), so nothing is re-encoded to check it and no JSON canonical form is
/// needed. Nodes of builds without signing ignore the key. While the secret is rotated, the
/// signatures of one more secret are taken too (`accepting`); messages are signed with `secret`.
public struct SharedMessageSigner: Sendable {
    /// What a message read from Redis turned out to be.
    public enum Verification: Equatable, Sendable {
        /// Signed with the shared secret; the message without its signature.
        case signed([UInt8])
        /// No signature: the message as it came.
        case unsigned([UInt8])
        /// A signature that is not one made with the shared secret (another secret, a message
        /// changed after signing, a malformed `sig`).
        case forged
    }

    /// Shortest secret taken, in bytes: as long as the hash's output (RFC 2104 §3).
    public static let minimumSecretBytes = 32

    private let key: SymmetricKey
    /// The keys whose signatures are taken: `key` first, then the ones accepted besides it.
    private let checkedKeys: [SymmetricKey]

    /// A signer with `secret` that also takes signatures made with `accepting` (each at least
    /// `minimumSecretBytes` long: checked by the configuration).
    public init(secret: String, accepting: [String] = []) {
        key = SymmetricKey(data: Array(secret.utf8))
        checkedKeys = [key] + accepting.map { SymmetricKey(data: Array($0.utf8)) }
    }

    private static let prefix = Array(#"{"sig":""#.utf8)
    private static let hexDigits = Array("0123456789abcdef".utf8)
    /// `{"sig":"` + 64 hex digits + `",`
    private static let signedHeaderLength = prefix.count + 64 + 2

    /// `message` (a JSON object) with its signature as the first key; a message that is not an
    /// object with at least one key is returned as it is (nothing this node publishes).
    public func sign(_ message: [UInt8]) -> [UInt8] {
        guard message.count > 2, message.first == UInt8(ascii: "{") else { return message }
        let code = HMAC<SHA256>.authenticationCode(for: message, using: key)
        var signed = Self.prefix
        signed.reserveCapacity(message.count + Self.signedHeaderLength)
        for byte in code {
            signed.append(Self.hexDigits[Int(byte >> 4)])
            signed.append(Self.hexDigits[Int(byte & 0x0f)])
        }
        signed.append(UInt8(ascii: "\""))
        signed.append(UInt8(ascii: ","))
        signed.append(contentsOf: message.dropFirst())
        return signed
    }

    /// Whether `message` carries a signature, and whether it is this secret's (or an accepted one's).
    public func verify(_ message: [UInt8]) -> Verification {
        guard message.starts(with: Self.prefix) else { return .unsigned(message) }
        guard message.count > Self.signedHeaderLength, message[Self.signedHeaderLength - 2] == UInt8(ascii: "\""),
            message[Self.signedHeaderLength - 1] == UInt8(ascii: ","), let code = Self.bytes(ofHex: message[Self.prefix.count..<(Self.prefix.count + 64)])
        else { return .forged }
        let body = [UInt8(ascii: "{")] + message[Self.signedHeaderLength...]
        let valid = checkedKeys.contains { HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: body, using: $0) }
        return valid ? .signed(body) : .forged
    }

    /// The 32 bytes of 64 lowercase hex digits; nil for anything else.
    private static func bytes(ofHex hex: ArraySlice<UInt8>) -> [UInt8]? {
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var index = hex.startIndex
        while index < hex.endIndex {
            guard let high = value(hex[index]), let low = value(hex[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}
