#if canImport(Glibc)
import Glibc
#endif

/// A lock with the shape of `Synchronization.Mutex` over a pthread mutex, for builds under
/// ThreadSanitizer (`scripts/tsan`): on Linux, `Mutex` waits on a futex inside the standard
/// library, which TSan does not see, so every access under a `Mutex` looked like a race. With
/// `-DBROKERD_TSAN` each module's `Mutex` is this type (see its `Mutex+ThreadSanitizer.swift`);
/// other builds do not use it.
public final class PthreadMutex<Value: ~Copyable>: @unchecked Sendable {
    // Safe to share: `value` is read and written only between lock and unlock of `mutex`.
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>

    public init(_ initialValue: consuming sending Value) {
        value = initialValue
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value while holding the lock.
    public func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
