import Foundation
import Testing
import TestSupport

@testable import brokerd

struct ResumeKeyTests {
    @Test func aTokenBelongsToOneSessionOfAnIdUnderOneKey() {
        let key = ResumeKey.random()
        let token = key.token(for: "client_0000002a", startedAt: 1_796_000_000_000_000)
        #expect(token.count == 32 && token.allSatisfy(\.isHexDigit))
        #expect(key.accepts(token, for: "client_0000002a", startedAt: 1_796_000_000_000_000))
        // The same id drawn again for a later session, another id, another key, a changed token.
        #expect(!key.accepts(token, for: "client_0000002a", startedAt: 1_796_000_000_000_001))
        #expect(!key.accepts(token, for: "client_0000002b", startedAt: 1_796_000_000_000_000))
        #expect(!ResumeKey.random().accepts(token, for: "client_0000002a", startedAt: 1_796_000_000_000_000))
        #expect(!key.accepts(token.uppercased(), for: "client_0000002a", startedAt: 1_796_000_000_000_000))
        #expect(!key.accepts(String(token.dropLast()), for: "client_0000002a", startedAt: 1_796_000_000_000_000))
    }

    @Test func theKeyIsMadeOnceBesideTheJournalPrivateAndKeptAcrossStarts() throws {
        let dir = try TemporaryDirectory()
        let journal = dir.path("j.sqlite")
        let made = try ResumeKey.loadOrCreate(besideJournal: journal)
        let path = ResumeKey.path(besideJournal: journal)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let again = try ResumeKey.loadOrCreate(besideJournal: journal)
        #expect(again.token(for: "client_1", startedAt: 7) == made.token(for: "client_1", startedAt: 7))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).sorted() == ["j.sqlite.resume-key"], "no temporary file left")

        // A damaged key is refused with what to do, not replaced behind the operator's back.
        try "not hex\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            try ResumeKey.loadOrCreate(besideJournal: journal)
        } throws: { error in
            "\(error)".contains("is not 64 hex digits; remove it")
        }
    }
}
