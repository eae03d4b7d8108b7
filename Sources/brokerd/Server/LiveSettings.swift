import Journal
import Logging

/// The settings a running broker reloads (`Setting.isReloadable`), with what is made of them,
/// replaced together so that no request sees half of a reload.
struct LiveSettings: Sendable {
    /// The running configuration: the start-up one with the reloadable settings of the last reload.
    let configuration: Configuration
    /// Checks client tokens when `jwt_secret` or `jwt_public_key` is set; nil lets clients connect anonymously.
    let tokenVerifier: ClientTokenVerifier?
    /// The web pages allowed to use the broker from a browser; nil: no check (`allowed_origins`).
    let allowedOrigins: AllowedOrigins?
    /// Finds a client's address behind the configured trusted proxies.
    let clientAddresses: ClientAddressResolver

    init(configuration: Configuration, tokenVerifier: ClientTokenVerifier?) {
        self.configuration = configuration
        self.tokenVerifier = tokenVerifier
        allowedOrigins = AllowedOrigins(configuration.auth.allowedOrigins)
        clientAddresses = ClientAddressResolver(trustedProxies: configuration.auth.trustedProxies)
    }

    /// These settings with the reloadable ones of `new`; the token verifier made again only
    /// when a setting it checks with changed (a verifier keeps nothing of the tokens it checked).
    func reloaded(from new: Configuration, logger: Logger) async -> LiveSettings {
        let next = configuration.reloaded(from: new)
        let (old, now) = (configuration.auth, next.auth)
        let sameChecks = old.jwtSecret == now.jwtSecret && old.jwtPublicKey == now.jwtPublicKey && old.jwtJWKSURL == now.jwtJWKSURL
            && old.jwtAudience == now.jwtAudience && old.jwtIssuer == now.jwtIssuer
        return LiveSettings(
            configuration: next, tokenVerifier: sameChecks ? tokenVerifier : await ClientTokenVerifier(auth: now, logger: logger))
    }
}

/// What became of one reload of the configuration.
struct ReloadOutcome: Sendable {
    /// When it ran (µs since the epoch).
    let at: Int64
    /// What it took (`applied`) and what waits for a restart (`needRestart`); nil when it failed.
    let changes: Configuration.Changes?
    /// Why nothing was taken: the configuration's sources do not resolve (the one-line error
    /// start-up would have stopped with).
    let error: ConfigurationError?

    var succeeded: Bool { error == nil }
}

/// Reloads, one at a time in the order they were asked for (a SIGHUP and an HTTP request at once
/// must not apply an older read of the file after a newer one), and what the last one did.
actor ConfigurationReloads {
    private var last: Task<ReloadOutcome, Never>?
    private var summary = Summary()

    /// Reloads so far, and the latest.
    struct Summary: Sendable {
        var count = 0
        var failures = 0
        /// The latest reload's outcome; nil before the first.
        var latest: ReloadOutcome?
    }

    /// Reloads so far, and the latest.
    var sofar: Summary { summary }

    /// Runs `reload` after every reload asked for before it, and returns its outcome.
    func run(_ reload: @escaping @Sendable () async -> ReloadOutcome) async -> ReloadOutcome {
        let previous = last
        let task = Task {
            _ = await previous?.value
            return await reload()
        }
        last = task
        let outcome = await task.value
        summary.count += 1
        if !outcome.succeeded { summary.failures += 1 }
        if summary.latest.map({ $0.at <= outcome.at }) ?? true { summary.latest = outcome }
        return outcome
    }
}
