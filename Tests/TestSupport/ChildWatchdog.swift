import Foundation

/// Takes a test's child process (a Redis, an nginx, a broker, a browser) down, with every process
/// it started, when the test process ends without doing it: a crash, or a kill by a CI timeout.
/// Otherwise the child outlives the run, holding its port and files, and a crashed run leaves a
/// machine that the next run trips over.
///
/// A parent-death signal (`PR_SET_PDEATHSIG`) cannot do it here: it must be set between fork and
/// exec, which `Process` does not let us reach, and it fires when the spawning *thread* ends, which
/// the concurrency pool's threads may do at any time. So a small shell process watches instead: it
/// checks every second that both are still there (by process id and start time, since ids are
/// reused), ends when the child does, and when the test process is gone stops the child's tree
/// and kills it, leaves first.
public enum ChildWatchdog {
    /// The watcher (`/bin/sh`, cat, awk, sed and cut: all of them in a Debian base system).
    /// `$1`: the parent's process id, `$2`: the child's. The children are found through one `cat`
    /// of every `/proc/*/stat`, which goes on past a process that ended meanwhile (Debian's awk,
    /// mawk, stops at the first file it cannot open).
    static let script = #"""
        started() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
        alive() { [ "$(started "$1")" = "$2" ]; }
        children() { cat /proc/[0-9]*/stat 2>/dev/null | awk -v p="$1" '{ pid = $1; sub(/.*\) /, ""); if ($2 == p) print pid }'; }
        tree() { kill -STOP "$1" 2>/dev/null; for c in $(children "$1"); do tree "$c"; done; kill -KILL "$1" 2>/dev/null; }
        parent=$(started "$1"); child=$(started "$2")
        [ -n "$parent" ] && [ -n "$child" ] || exit 0
        while alive "$1" "$parent"; do
            alive "$2" "$child" || exit 0
            sleep 1
        done
        alive "$2" "$child" && tree "$2"
        exit 0
        """#

    /// Watches `child` on behalf of `parent` (this process, unless a test of the watchdog says
    /// otherwise). Returns the watcher, which ends on its own.
    @discardableResult
    public static func watch(_ child: Int32, parent: Int32 = getpid()) throws -> Process {
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: "/bin/sh")
        watcher.arguments = ["-c", script, "brokerd-test-watchdog", "\(parent)", "\(child)"]
        watcher.standardInput = FileHandle.nullDevice
        // Never the test process's: `swift test` waits for whoever holds its output.
        watcher.standardOutput = FileHandle.nullDevice
        watcher.standardError = FileHandle.nullDevice
        try watcher.run()
        return watcher
    }
}

extension Process {
    /// `run()`, with a `ChildWatchdog` that takes the process down should the test process end first.
    public func runWatched() throws {
        try run()
        try ChildWatchdog.watch(processIdentifier)
    }
}
