#if BROKERD_TSAN
import Locking

/// Under ThreadSanitizer (`scripts/tsan`) this module's locks are pthread mutexes, which TSan sees.
typealias Mutex<Value: ~Copyable> = PthreadMutex<Value>
#endif
