import Foundation
import Journal
import Testing

@Suite struct JournalBadInputTests {
    @Test func aFileThatIsNotSQLiteIsRefusedClearly() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("not-a-journal.sqlite")
        try Data(repeating: 0x41, count: 8_192).write(to: URL(fileURLWithPath: path))

        #expect {
            try Journal.open(path: path)
        } throws: { error in
            guard case .notAJournal = error as? JournalError else { return false }
            return "\(error)".contains("not an SQLite database")
        }
        #expect(throws: JournalError.self) { try JournalReader(path: path) }
        // Refusing must not have changed the file.
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(repeating: 0x41, count: 8_192))
    }

    @Test func aSecondWriterOfAJournalIsRefusedWhileTheFirstIsOpenAndTheFirstGoesOn() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let first = try Journal.open(path: path)
        try await appendRecords(first, count: 3)

        #expect {
            try Journal.open(path: path)
        } throws: { error in
            guard case .inUse(let refused, let holder) = error as? JournalError else { return false }
            return refused == path && holder == getpid() && "\(error)".contains("is in use by another brokerd (pid \(getpid()))")
        }
        // Refused before it wrote anything: the first still appends where it was.
        try await appendRecords(first, count: 2)
        #expect(first.lastSeq == 5)
        // The read-only tools do not need the lock.
        #expect(try JournalReader(path: path).verify().isValid)
        first.close()

        let second = try Journal.open(path: path)
        #expect(second.lastSeq == 5, "the lock goes with close")
        second.close()
    }

    @Test func aSecondWriterThroughASymlinkIsRefusedAndAJournalWithAHardLinkIsNotServed() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let first = try Journal.open(path: path)
        try await appendRecords(first, count: 3)
        // The same file under another name, and under a linked directory.
        try FileManager.default.createSymbolicLink(atPath: dir.path("link.sqlite"), withDestinationPath: path)
        try FileManager.default.createSymbolicLink(atPath: dir.path("data"), withDestinationPath: dir.path(""))
        for name in [dir.path("link.sqlite"), dir.path("data") + "/j.sqlite", dir.path("data") + "/link.sqlite"] {
            #expect("\(name)") {
                try Journal.open(path: name)
            } throws: { error in
                guard case .inUse(_, let holder) = error as? JournalError else { return false }
                return holder == getpid()
            }
        }
        try await appendRecords(first, count: 1)
        first.close()

        // A hard link makes two names no lock can tie together: refused under either, nothing written.
        try FileManager.default.linkItem(atPath: path, toPath: dir.path("hard.sqlite"))
        for name in [path, dir.path("hard.sqlite")] {
            #expect {
                try Journal.open(path: name)
            } throws: { error in
                guard case .cannotLock(_, let reason) = error as? JournalError else { return false }
                return reason.contains("2 hard links")
            }
        }
        #expect(try JournalReader(path: path).last()?.seq == 4)
        try FileManager.default.removeItem(atPath: dir.path("hard.sqlite"))
        let reopened = try Journal.open(path: dir.path("link.sqlite"))
        #expect(reopened.lastSeq == 4, "one name again: served")
        reopened.close()
    }

    /// The first writer through a symlink to a journal not created yet creates it: later writers,
    /// through the link or the file, must find the same lock.
    @Test func aSymlinkToAJournalNotCreatedYetSharesTheLockOfTheFileItBecomes() async throws {
        let dir = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir.path("real"), withIntermediateDirectories: true)
        let link = dir.path("j.sqlite")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "real/journal.sqlite")
        let first = try Journal.open(path: link)
        try await appendRecords(first, count: 1)
        for name in [link, dir.path("real/journal.sqlite")] {
            #expect("\(name)") {
                try Journal.open(path: name)
            } throws: { error in
                guard case .inUse = error as? JournalError else { return false }
                return true
            }
        }
        first.close()
    }

    @Test func anSQLiteFileOfAnotherApplicationIsRefused() throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("other.sqlite")
        try rawSQL(path, "CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT)")
        #expect {
            try Journal.open(path: path)
        } throws: { error in
            if case .notAJournal = error as? JournalError { return true }
            return false
        }
    }

    @Test func aJournalOfANewerFormatIsRefusedWithBothVersions() async throws {
        let dir = try TemporaryDirectory()
        let path = dir.path("j.sqlite")
        let journal = try Journal.open(path: path)
        try await appendRecords(journal, count: 3)
        journal.close()
        try rawSQL(path, "PRAGMA user_version = 99")

        #expect {
            try Journal.open(path: path)
        } throws: { error in
            guard case .newerFormat(_, found: 99, supported: 1) = error as? JournalError else { return false }
            return true
        }
    }
}
