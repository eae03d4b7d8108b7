#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Resource readings of this process (getrusage) and of the broker (/proc/PID).
enum ProcessStats {
    /// CPU seconds (user, system) this process has used so far.
    static func ownCPUSeconds() -> (user: Double, system: Double) {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return (seconds(usage.ru_utime), seconds(usage.ru_stime))
    }

    /// Resident set size of a process in KiB, from the VmRSS line of /proc/PID/status.
    static func residentKilobytes(pid: Int32) -> Int? {
        guard let status = readProcFile("/proc/\(pid)/status") else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let digits = line.dropFirst("VmRSS:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
            return digits.flatMap { Int($0) }
        }
        return nil
    }

    /// CPU seconds (user + system) a process has used, from fields 14 and 15 of /proc/PID/stat.
    static func cpuSeconds(pid: Int32) -> Double? {
        guard let stat = readProcFile("/proc/\(pid)/stat"),
            let commandEnd = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name start at field 3 (state).
        let fields = stat[stat.index(after: commandEnd)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (user + system) / ticksPerSecond
    }

    /// Busy and total CPU seconds of the whole machine so far, from the first line of /proc/stat.
    static func machineCPUSeconds() -> (busy: Double, total: Double)? {
        guard let stat = readProcFile("/proc/stat"), let line = stat.split(separator: "\n").first,
            line.hasPrefix("cpu ")
        else { return nil }
        // user nice system idle iowait irq softirq steal …
        let ticks = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard ticks.count >= 8 else { return nil }
        let total = ticks.prefix(8).reduce(0, +)
        let idle = ticks[3] + ticks[4]
        let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ((total - idle) / ticksPerSecond, total / ticksPerSecond)
    }

    /// Raises the soft open-file limit to the hard limit; returns the limits now in force.
    @discardableResult
    static func raiseOpenFileLimit() -> (soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return (0, 0) }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return (UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Reads a whole /proc file (their reported size is 0, so read until end of file).
    private static func readProcFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
