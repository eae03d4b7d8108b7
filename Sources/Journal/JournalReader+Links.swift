#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files given as one history (archives oldest first, then the journal) that do not follow on one
/// another: one missing between two, given out of order, or an archive of another journal.
public struct UnlinkedFiles: Error, CustomStringConvertible {
    public let description: String
}

extension JournalReader {
    /// Checks that `files` (oldest first) are one chain: each starts after a row of the file before
    /// it (its chain base: the last row compaction archived) that is that file's row, hash and all.
    /// An interrupted compaction leaves rows in both files; they overlap, which is allowed. Reads
    /// one row and the chain base of each file, not the chain: `verify(after:)` walks that.
    /// - Throws: `UnlinkedFiles` naming the two files and what is wrong; read failures as they come.
    public static func requireLinked(_ files: [JournalReader]) throws {
        try requireOrdered(files)
        for (previous, next) in zip(files, files.dropFirst()) {
            let previousBase = try previous.chainBase()
            let base = try next.chainBase()
            guard base.seq > previousBase.seq else {
                // An interrupted compaction leaves the same rows in both; another journal's archive
                // has rows of its own at those seqs.
                let previousLast = try previous.last()?.seq ?? previousBase.seq
                guard let hash = try next.storedHash(atSeq: previousLast), hash == (try previous.storedHash(atSeq: previousLast)) else {
                    throw UnlinkedFiles(
                        description: "\(previous.path) is not an archive of \(next.path): both start after seq \(base.seq) and their rows "
                            + "differ (an archive of another journal?)")
                }
                throw UnlinkedFiles(
                    description: "\(next.path) starts after seq \(base.seq), as \(previous.path) does: the rows of one are in the other "
                        + "(an interrupted compaction: run `brokerd journal compact` again with the same --before-seq to finish it)")
            }
            let previousLast = try previous.last()?.seq ?? previous.chainBase().seq
            guard base.seq <= previousLast else {
                let missing = previousLast + 1 == base.seq ? "seq \(base.seq) is" : "seqs \(previousLast + 1)...\(base.seq) are"
                throw UnlinkedFiles(
                    description: "\(missing) in neither \(previous.path) nor \(next.path): the archive holding them is missing between the two")
            }
            guard let row = try previous.records(JournalQuery(fromSeq: base.seq, toSeq: base.seq)).next(), row.hash == base.hash else {
                throw UnlinkedFiles(
                    description: "\(next.path) does not continue \(previous.path): its chain starts after a seq \(base.seq) "
                        + "that is not the one in \(previous.path) (an archive of another journal?)")
            }
        }
    }

    /// Checks that `files` are given as archives oldest first, each once, then the journal: no
    /// file twice, and none starting before the one before it. What `verify(after:)` needs to tell
    /// a broken chain from files given in the wrong order (which would read as an overlap of rows,
    /// an interrupted compaction). Two files starting at the same seq pass: an interrupted
    /// compaction leaves the archive and the journal so, and the walk says so.
    /// - Throws: `UnlinkedFiles` naming the two files.
    public static func requireOrdered(_ files: [JournalReader]) throws {
        var seen: [FileIdentity: String] = [:]
        for file in files {
            guard let identity = FileIdentity(path: file.path) else { continue }
            if let earlier = seen[identity] {
                throw UnlinkedFiles(
                    description: "\(file.path) is given twice (as \(earlier) too): give the archives oldest first, each once, then the journal")
            }
            seen[identity] = file.path
        }
        for (previous, next) in zip(files, files.dropFirst()) {
            let previousBase = try previous.chainBase()
            let base = try next.chainBase()
            guard base.seq >= previousBase.seq else {
                throw UnlinkedFiles(
                    description: "\(next.path) starts after seq \(base.seq), before \(previous.path), which starts after seq "
                        + "\(previousBase.seq): give the archives oldest first, each once, then the journal")
            }
        }
    }
}

/// A file as the file system knows it, whatever name it was given by.
private struct FileIdentity: Hashable {
    let device: UInt64
    let inode: UInt64

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}
