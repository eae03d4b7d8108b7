import Logging

/// The life of one Redis reader thread: open a session, and when it fails, back off and open
/// another, until the reader is stopped. What a session does (SUBSCRIBE, XREAD) is the caller's.
struct ReconnectingSession {
    /// Which of the source's connections this is, for its state.
    let connection: RedisSourceStatus.Connection
    /// What the reader does, for the logs: "Redis subscription", "Redis stream reading".
    let activity: String
    /// Identifies the reader in every log line.
    let metadata: Logger.Metadata
    let status: RedisSourceStatus
    let control: ReaderThreadControl
    let logger: Logger

    /// Runs sessions until stopped. `session` gets a callback to call once it works (with metadata
    /// for the "restored" line) and returns or throws when its connection ends.
    ///
    /// A session works once it has done what it connected for — the subscriptions confirmed, a
    /// read answered — not merely once it is connected: only then is it counted as connected, and
    /// only then do the backoff and the failure count start over. So a session that connects
    /// and then fails every time (XREAD refused with WRONGTYPE or NOPERM) backs off ever longer
    /// and warns once, like one that cannot connect at all.
    ///
    /// A session ended by a reconnect request (`ReaderThreadControl.requestReconnect()`: the Redis
    /// address moved) is no failure: the next one opens at once, with no backoff.
    func run(
        backoff: ReconnectBackoff,
        _ session: (_ working: (_ extra: Logger.Metadata) -> Void) throws(RedisError) -> Void
    ) {
        var backoff = backoff
        var hasWorked = false
        var failures = 0
        defer {
            status.set(connection, .stopped)
            control.finish()
        }
        while !control.isStopping {
            status.set(connection, .connecting)
            // Taken before the session reads the address: a request after this ends the session.
            _ = control.takeReconnectRequest()
            do {
                try session { extra in
                    status.connected(connection, afterFailure: hasWorked)
                    if hasWorked || failures > 0 {
                        logger.info("\(activity) restored", metadata: metadata.merging(extra) { $1 })
                    }
                    hasWorked = true
                    failures = 0
                    backoff.reset()
                }
            } catch {
                if control.isStopping { break }
                if control.takeReconnectRequest() {
                    logger.info("\(activity) reconnecting: the Redis address changed", metadata: metadata)
                    continue
                }
                failures += 1
                status.update { $0.lastError = error.description }
                status.set(connection, .backingOff)
                let delay = backoff.nextDelay()
                // The first failure of an outage is news; the retries that follow are not.
                if failures == 1 {
                    logger.warning(
                        "\(activity) failed; reconnecting with backoff", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                } else {
                    logger.debug("Redis reconnect failed", metadata: ["attempt": .stringConvertible(failures), "error": "\(error)", "retryIn": "\(delay)"])
                }
                if !control.sleep(for: delay) { break }
            }
        }
    }
}
