#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback port nobody listens on right now: bind port 0, read what the kernel chose, close.
enum FreePort {
    static func pick() throws -> Int {
        #if canImport(Glibc)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { throw BrokerLaunchError.noFreePort(errno: errno) }
        defer { close(descriptor) }
        guard let address = bindLoopback(descriptor) else { throw BrokerLaunchError.noFreePort(errno: errno) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Binds `descriptor` to 127.0.0.1 on a port the kernel chooses and returns the bound address;
    /// nil when binding failed (errno says why).
    static func bindLoopback(_ descriptor: Int32) -> sockaddr_in? {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
            }
        }
        return bound ? address : nil
    }
}
