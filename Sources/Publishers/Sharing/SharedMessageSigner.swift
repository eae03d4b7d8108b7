import Crypto
import Journal
import Synchronization

/// Signs what a node publishes on the shared channels and the shared log, and checks what it
/// reads, with a secret every node of a deployment shares (`redis_secret`): HMAC-SHA256 of the
/// message, in a first key, `{"sig":"<64 hex digits>","at":<µs>,"n":<number>,…}`.
///
/// The signature covers the message's exact bytes without it (`{` and everything after the
/// `sig` key's comma, the stamp included), so nothing is re-encoded to check it and no JSON
/// canonical form is needed. The stamp (`Stamp`: when it was signed, and the signing process's count) lets
/// a reader refuse a copy of a signed message published again (`ReplayGuard`). Nodes of builds
/// without signing ignore the keys. While the secret is rotated, the signatures of one more secret
/// are taken too (`accepting`); messages are signed with `secret`.
public struct SharedMessageSigner: Sendable {
    /// When a message was signed, and which of its signer's messages it is: what makes every
    /// signed message unique, so a copy of one can be told from a new message.
    public struct Stamp: Sendable, Hashable {
        /// Microseconds since the Unix epoch, by the signer's clock.
        public var at: Int64
        /// The signing process's count of the messages it signed, from 1.
        public var number: UInt64

        public init(at: Int64, number: UInt64) {
            self.at = at
            self.number = number
        }
    }

    /// What a message read from Redis turned out to be.
    public enum Verification: Equatable, Sendable {
        /// Signed with the shared secret; the message without its signature and stamp, and the
        /// stamp (nil when signed by a build before stamps).
        case signed([UInt8], stamp: Stamp?)
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
    /// The numbers of this process's stamps: one count for every signer it makes (a reload
    /// makes a new one), so no number comes twice from one process (`NodeOrigin.instance`).
    private static let count = StampCount()

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
    private static let atKey = Array(#""at":"#.utf8)
    private static let numberKey = Array(#""n":"#.utf8)

    /// `message` (a JSON object) signed and stamped now with this process's next number: its
    /// signature and stamp as the first keys. A message that is not an object with at least one
    /// key is returned as it is (nothing this node publishes).
    public func sign(_ message: [UInt8]) -> [UInt8] {
        sign(message, stamp: Stamp(at: WallClock.microsecondsNow(), number: Self.count.next()))
    }

    /// `message` signed with `stamp`, or without one (as builds before stamps signed).
    public func sign(_ message: [UInt8], stamp: Stamp?) -> [UInt8] {
        guard message.count > 2, message.first == UInt8(ascii: "{") else { return message }
        var body: [UInt8] = [UInt8(ascii: "{")]
        if let stamp {
            body += Self.atKey + Array(String(stamp.at).utf8) + [UInt8(ascii: ",")]
            body += Self.numberKey + Array(String(stamp.number).utf8) + [UInt8(ascii: ",")]
        }
        body += message.dropFirst()
        let code = HMAC<SHA256>.authenticationCode(for: body, using: key)
        var signed = Self.prefix
        signed.reserveCapacity(body.count + Self.signedHeaderLength)
        for byte in code {
            signed.append(Self.hexDigits[Int(byte >> 4)])
            signed.append(Self.hexDigits[Int(byte & 0x0f)])
        }
        signed.append(UInt8(ascii: "\""))
        signed.append(UInt8(ascii: ","))
        signed.append(contentsOf: body.dropFirst())
        return signed
    }

    /// Whether `message` carries a signature, and whether it is this secret's (or an accepted one's).
    public func verify(_ message: [UInt8]) -> Verification {
        guard message.starts(with: Self.prefix) else { return .unsigned(message) }
        guard message.count > Self.signedHeaderLength, message[Self.signedHeaderLength - 2] == UInt8(ascii: "\""),
            message[Self.signedHeaderLength - 1] == UInt8(ascii: ","), let code = Self.bytes(ofHex: message[Self.prefix.count..<(Self.prefix.count + 64)])
        else { return .forged }
        let body = [UInt8(ascii: "{")] + message[Self.signedHeaderLength...]
        guard checkedKeys.contains(where: { HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: body, using: $0) }) else {
            return .forged
        }
        // Signed, the stamp is the signer's own making; a signature without one is an older build's.
        guard let (stamp, rest) = Self.stamp(in: body[1...]) else { return .signed(body, stamp: nil) }
        return .signed([UInt8(ascii: "{")] + rest, stamp: stamp)
    }

    /// The stamp that opens `keys` (a signed object's keys after its `{`), and what follows it.
    private static func stamp(in keys: ArraySlice<UInt8>) -> (Stamp, ArraySlice<UInt8>)? {
        guard let (at, afterAt) = integer(after: atKey, in: keys), let (number, rest) = integer(after: numberKey, in: afterAt),
            let at = Int64(exactly: at), at >= 0
        else { return nil }
        return (Stamp(at: at, number: number), rest)
    }

    /// The decimal digits after `key` at the start of `bytes` and the bytes after their comma.
    private static func integer(after key: [UInt8], in bytes: ArraySlice<UInt8>) -> (UInt64, ArraySlice<UInt8>)? {
        guard bytes.starts(with: key) else { return nil }
        let digits = bytes.dropFirst(key.count).prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
        guard !digits.isEmpty, digits.count <= 19, let value = UInt64(String(decoding: digits, as: UTF8.self)),
            digits.endIndex < bytes.endIndex, bytes[digits.endIndex] == UInt8(ascii: ",")
        else { return nil }
        return (value, bytes[(digits.endIndex + 1)...])
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

/// The numbers this process stamps, one after the other from 1, whichever signer and thread sign.
private final class StampCount: Sendable {
    private let last = Atomic<UInt64>(0)

    func next() -> UInt64 {
        last.wrappingAdd(1, ordering: .relaxed).newValue
    }
}
