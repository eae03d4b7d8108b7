import Crypto

/// Computes the chained row hash: SHA-256(previous hash ‖ seq ‖ ts ‖ kind ‖ key ‖ payload).
///
/// Fields are length-prefixed and big-endian so that no two different rows hash the same bytes.
struct RecordHasher {
    private var scratch: [UInt8] = []

    init() {
        scratch.reserveCapacity(512)
    }

    mutating func hash(
        previous: [UInt8], seq: UInt64, timestamp: Int64, kind: UInt16, key: String?, payload: [UInt8]
    ) -> [UInt8] {
        Array(digest(previous: previous, seq: seq, timestamp: timestamp, kind: kind, key: key, payload: payload))
    }

    /// Whether `record`'s stored hash is the one its content and `previous` give; allocates nothing.
    mutating func matches(previous: [UInt8], record r: JournalRecord) -> Bool {
        let digest = digest(previous: previous, seq: r.seq, timestamp: r.timestamp, kind: r.kind, key: r.key, payload: r.payload)
        return digest.withUnsafeBytes { $0.elementsEqual(r.hash) }
    }

    private mutating func digest(
        previous: [UInt8], seq: UInt64, timestamp: Int64, kind: UInt16, key: String?, payload: [UInt8]
    ) -> SHA256Digest {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: previous)
        appendBigEndian(seq)
        appendBigEndian(UInt64(bitPattern: timestamp))
        scratch.append(UInt8(kind >> 8))
        scratch.append(UInt8(kind & 0xff))
        if let key {
            let utf8 = key.utf8
            scratch.append(1)
            appendBigEndian(UInt64(utf8.count))
            scratch.append(contentsOf: utf8)
        } else {
            scratch.append(0)
        }
        appendBigEndian(UInt64(payload.count))
        scratch.append(contentsOf: payload)
        return SHA256.hash(data: scratch)
    }

    mutating func hash(previous: [UInt8], record r: JournalRecord) -> [UInt8] {
        hash(previous: previous, seq: r.seq, timestamp: r.timestamp, kind: r.kind, key: r.key, payload: r.payload)
    }

    private mutating func appendBigEndian(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { scratch.append(contentsOf: $0) }
    }
}
