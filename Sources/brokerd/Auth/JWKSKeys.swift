import AsyncHTTPClient
import Foundation
import JWTKit
import Logging
import NIOCore
import Synchronization

/// The token issuer's keys as its JSON Web Key Set publishes them (`jwt_jwks_url`, as identity
/// providers do: Keycloak, Auth0, Cognito), for RS256 and ES256 client tokens that name their key
/// (`kid`).
///
/// Fetched when the verifier is made (start-up, a reload), again when older than `maxAge` (in the
/// background: tokens are checked with the set at hand meanwhile), and at once for a token naming a
/// key the set lacks, at most every `minimumRefetch` (a provider's new key is found on its first
/// token; a stream of tokens with made-up kids cannot make the broker hammer the provider). A failed
/// fetch keeps the keys it had. Only RSA and EC keys are taken; the others (and keys without `kid`)
/// are left out, so no HMAC secret can ever come from the set.
final class JWKSKeys: Sendable {
    static let maxAge: Duration = .seconds(300)
    static let minimumRefetch: Duration = .seconds(30)
    static let fetchTimeout: TimeAmount = .seconds(5)
    static let maxBytes = 1 << 20

    let url: String
    private let logger: Logger
    private let minimumRefetch: Duration
    private let state = Mutex(State())

    private struct State {
        var keys: JWTKeyCollection?
        var kids: Set<String> = []
        var fetchedAt: ContinuousClock.Instant?
        var attemptedAt: ContinuousClock.Instant?
        /// The fetch under way: whoever needs it waits for this one rather than start another.
        var inFlight: Task<Void, Never>?
    }

    init(url: String, logger: Logger, minimumRefetch: Duration = JWKSKeys.minimumRefetch) {
        self.url = url
        self.logger = logger
        self.minimumRefetch = minimumRefetch
    }

    /// The set's keys for a token naming `kid`; nil when the set (fetched again if it may be
    /// stale, or waited for when a fetch is under way) has no such key.
    func keys(for kid: String) async -> JWTKeyCollection? {
        let now = ContinuousClock.now
        let (known, keys, stale, inFlight, mayRefetch) = state.withLock { state in
            (
                state.kids.contains(kid), state.keys, state.fetchedAt.map { now - $0 > Self.maxAge } ?? true, state.inFlight,
                state.attemptedAt.map { now - $0 >= minimumRefetch } ?? true
            )
        }
        if known, let keys {
            if stale && inFlight == nil && mayRefetch { Task { await self.refresh() } }
            return keys
        }
        if let inFlight {
            await inFlight.value
        } else if mayRefetch {
            await refresh()
        } else {
            return nil
        }
        return state.withLock { $0.kids.contains(kid) ? $0.keys : nil }
    }

    /// Fetches the set and takes its RSA and EC keys (or waits for the fetch under way); a failure
    /// is logged and keeps the keys there were.
    func refresh() async {
        let fetch = state.withLock { state -> Task<Void, Never> in
            if let running = state.inFlight { return running }
            state.attemptedAt = .now
            let task = Task {
                await self.fetch()
                self.state.withLock { $0.inFlight = nil }
            }
            state.inFlight = task
            return task
        }
        await fetch.value
    }

    private func fetch() async {
        do {
            var request = HTTPClientRequest(url: url)
            request.headers.add(name: "Accept", value: "application/json")
            let response = try await HTTPClient.shared.execute(request, timeout: Self.fetchTimeout)
            guard response.status == .ok else { throw JWKSFetchError("answered \(response.status.code)") }
            let body = try await response.body.collect(upTo: Self.maxBytes)
            let (keys, kids, skipped) = try await Self.keys(fromJSON: Data(buffer: body))
            state.withLock {
                $0.keys = keys
                $0.kids = kids
                $0.fetchedAt = .now
            }
            logger.info(
                "JWKS fetched", metadata: ["url": "\(url)", "keys": "\(kids.sorted().joined(separator: ","))", "skipped": .stringConvertible(skipped)])
        } catch {
            logger.error("JWKS fetch failed; the keys fetched before stay", metadata: ["url": "\(url)", "error": "\(error)"])
        }
    }

    /// The RSA and EC keys with a `kid` of a JWKS document, and how many others it held.
    static func keys(fromJSON data: Data) async throws -> (JWTKeyCollection, Set<String>, skipped: Int) {
        guard let document = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let entries = document["keys"] as? [Any]
        else { throw JWKSFetchError("not a JWKS document (an object with a keys array)") }
        let collection = JWTKeyCollection()
        var kids: Set<String> = []
        var skipped = 0
        for entry in entries {
            // One at a time: a key of a type jwt-kit does not read must not lose the others.
            guard let object = entry as? [String: Any], ["RSA", "EC"].contains(object["kty"] as? String),
                let kid = object["kid"] as? String, !kids.contains(kid),
                let json = try? JSONSerialization.data(withJSONObject: object),
                let jwk = try? JSONDecoder().decode(JWK.self, from: json),
                (try? await collection.add(jwk: jwk)) != nil
            else {
                skipped += 1
                continue
            }
            kids.insert(kid)
        }
        return (collection, kids, skipped)
    }
}

struct JWKSFetchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
