#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The one writer of a journal file: an exclusive `flock` on `<journal>.lock`, held from
/// `Journal.open` until `Journal.close`.
///
/// SQLite lets two processes append to one file: each writer keeps its head (seq, hash) in memory,
/// so a second `brokerd serve` would write its own start-up events after the first one's, and from
/// then on every append of the first would fail on a taken seq while it still served its clients.
/// The lock is on a file of its own, not the database: a `flock` does not mix with SQLite's POSIX
/// locks there (closing any descriptor of the database would drop those), and the read-only tools
/// (`brokerd journal verify`, `replay`, …) and `compact` or `snapshot` beside a live broker never take it.
/// The kernel lets it go when the process ends, however it ends. The file holds the holder's pid.
///
/// The lock belongs to the file, not to the name it was opened by: symlinks (of the file or its
/// directories) are resolved, so every name of one journal shares one lock; a journal with a
/// second hard link is refused, since its other names cannot be found to share it (and SQLite
/// would keep a WAL beside each name, each taking commits the other never sees).
final class JournalFileLock: Sendable {
    let path: String
    private let descriptor: Atomic<Int32>

    /// Takes the lock of the journal at `journalPath`, or throws `JournalError.inUse` when another
    /// open journal (in this or another process) holds it.
    init(journalPath: String) throws(JournalError) {
        var status = stat()
        // A directory has two links or more: it is no journal, and no restart makes it one.
        if stat(journalPath, &status) == 0, status.st_mode & S_IFMT == S_IFDIR {
            throw .notAJournal(path: journalPath, reason: "it is a directory; name a file in it (e.g. \(journalPath)/journal.sqlite)")
        }
        if stat(journalPath, &status) == 0, status.st_nlink > 1 {
            throw .cannotLock(
                path: journalPath,
                reason: "the file has \(status.st_nlink) hard links, so another process could write it under another name "
                    + "unseen by this lock; remove the other links (a copy is a backup, a link is not)")
        }
        path = Self.realPath(journalPath) + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotLock(path: path, reason: String(cString: strerror(errno))) }
        var retriesLeft = Self.ownHolderRetries
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            let holder = Self.holder(fd)
            // This process held it last: a journal closed a moment ago whose lock a child being
            // spawned on another thread still shares (fork copies descriptors; O_CLOEXEC drops
            // them only at exec). It lets go within milliseconds; an open journal does not.
            if code == EWOULDBLOCK, holder == getpid(), retriesLeft > 0 {
                retriesLeft -= 1
                usleep(5_000)
                continue
            }
            close(fd)
            // A pid no process has is a serve's that ended: a journal tool reading the file holds it now.
            let running = holder.map { kill($0, 0) == 0 || errno != ESRCH } ?? false
            if code == EWOULDBLOCK { throw .inUse(path: journalPath, holder: running ? holder : nil) }
            throw .cannotLock(path: path, reason: String(cString: strerror(code)))
        }
        // Who holds it, for the next one to say; the lock itself is what counts.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(fd, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        descriptor = Atomic(fd)
    }

    /// `path` with every symlink resolved. For a file not created yet: its directory's real path
    /// and its name, after following a symlink that points to it (the first `serve` through such
    /// a link creates the file; the lock must be the same before and after).
    static func realPath(_ path: String) -> String {
        var path = path
        // As many links as the kernel follows (ELOOP beyond).
        for _ in 0..<40 {
            if let resolved = realpath(path, nil) {
                defer { free(resolved) }
                return String(cString: resolved)
            }
            guard let target = linkTarget(path) else { break }
            path = target.hasPrefix("/") ? target : directory(of: path) + "/" + target
        }
        let name = path.lastIndex(of: "/").map { String(path[path.index(after: $0)...]) } ?? path
        guard let resolved = realpath(directory(of: path), nil) else { return path }
        defer { free(resolved) }
        let real = String(cString: resolved)
        return (real.hasSuffix("/") ? real : real + "/") + name
    }

    /// What the symlink at `path` points to; nil when `path` is no symlink.
    private static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return path[..<slash].isEmpty ? "/" : String(path[..<slash])
    }

    /// How many 5 ms waits a lock this process held last gets to come free: 500 ms.
    static let ownHolderRetries = 100

    deinit { release() }

    /// Lets the lock go; later calls do nothing.
    func release() {
        let fd = descriptor.exchange(-1, ordering: .acquiringAndReleasing)
        if fd >= 0 { close(fd) }
    }

    /// The pid written in the lock file, when there is one.
    private static func holder(_ fd: Int32) -> Int32? {
        var bytes = [UInt8](repeating: 0, count: 16)
        let count = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: bytes[..<count].filter { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }, as: UTF8.self))
    }
}
