import Crypto
import Foundation

/// The secret that makes a session's resume token: `connected` hands a session `resume_token` =
/// HMAC-SHA256(key, client id and the journal time the session started), cut to 128 bits, and a
/// resume of an anonymous session must bring it back. The start is in it because ids are drawn
/// again once a session expired: a token kept from a throwaway session must not resume a later one.
///
/// Client ids have the seed's shape (`client_` + 8 hex digits): 32 bits, which anyone can guess at
/// a thousand tries a second, and with auth off a guessed id was all it took to take a session
/// over (its subscriptions and alerts; its live connection closed as `replaced`). The token is
/// derived, not stored, so sessions in journals and snapshots stay as they were; the key lives in
/// a file beside the journal (`<journal>.resume-key`, mode 0600), made on the first start, so
/// tokens stay valid across restarts. Without the file (a journal restored alone), resumes fail
/// and clients start fresh sessions, as after an expired window.
struct ResumeKey: Sendable {
    private let key: SymmetricKey

    init(_ key: SymmetricKey) {
        self.key = key
    }

    static func random() -> ResumeKey {
        ResumeKey(SymmetricKey(size: .bits256))
    }

    /// The token of session `clientID` that started at `startedAt` (its first connect's journal
    /// time, which resumes keep): 32 lowercase hex digits.
    func token(for clientID: String, startedAt: Int64) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data("\(clientID)@\(startedAt)".utf8), using: key)
        return Hex.string(mac.prefix(16))
    }

    /// Whether `token` is the one of session `clientID` started at `startedAt`, compared in constant time.
    func accepts(_ token: String, for clientID: String, startedAt: Int64) -> Bool {
        let expected = Array(self.token(for: clientID, startedAt: startedAt).utf8)
        let given = Array(token.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Where the key of the journal at `journalPath` is kept.
    static func path(besideJournal journalPath: String) -> String {
        journalPath + ".resume-key"
    }

    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    /// The key beside the journal, made (random, mode 0600) when there is none.
    static func loadOrCreate(besideJournal journalPath: String) throws(LoadError) -> ResumeKey {
        let path = path(besideJournal: journalPath)
        if let key = try load(path) { return key }
        let key = SymmetricKey(size: .bits256)
        let hex = key.withUnsafeBytes { Hex.string($0) }
        // Written whole to a file of its own, then linked into place: a crash while writing
        // leaves no empty key behind, and of two processes starting at once one key wins.
        let temporary = path + ".\(getpid()).tmp"
        unlink(temporary)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else {
            throw LoadError(description: "cannot create the resume key \(path): \(String(cString: strerror(errno)))")
        }
        let bytes = Array((hex + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        defer { unlink(temporary) }
        guard written == bytes.count, synced else {
            throw LoadError(description: "cannot write the resume key \(path)")
        }
        guard link(temporary, path) == 0 else {
            // Another process made it meanwhile: use that one.
            if errno == EEXIST, let key = try load(path) { return key }
            throw LoadError(description: "cannot create the resume key \(path): \(String(cString: strerror(errno)))")
        }
        return ResumeKey(key)
    }

    /// The key in `path`; nil when there is no such file.
    private static func load(_ path: String) throws(LoadError) -> ResumeKey? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw LoadError(description: "cannot read the resume key \(path)")
        }
        let hex = text.trimmingCharacters(in: .whitespacesAndNewlines)
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex, let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex),
            let byte = UInt8(hex[index..<next], radix: 16)
        {
            bytes.append(byte)
            index = next
        }
        guard index == hex.endIndex, bytes.count == 32 else {
            throw LoadError(description: "the resume key \(path) is not 64 hex digits; remove it to make a new one (resumable sessions then start fresh)")
        }
        return ResumeKey(SymmetricKey(data: bytes))
    }
}
