import Foundation
import JWTKit
import Logging
import Testing
import TestSupport
import _CryptoExtras

@testable import brokerd

/// The issuer's JSON Web Key Set (`jwt_jwks_url`), served by a real HTTP server (Python's
/// `http.server` over a directory): its RSA and EC keys check the tokens that name them.
@Suite(.serialized) struct JWKSTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)

    /// An EC P-256 key with its id, as an issuer holds it.
    struct Issuer {
        let kid: String
        let key = ES256PrivateKey()

        /// The public key as a JWK.
        var jwk: [String: Any] {
            ["kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": kid, "x": key.parameters!.x, "y": key.parameters!.y]
        }

        func sign(_ claims: ClientClaims) async throws -> String {
            try await JWTKeyCollection().add(ecdsa: key).sign(claims, header: ["kid": .string(kid)])
        }
    }

    static func document(_ keys: [[String: Any]]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: ["keys": keys]), as: UTF8.self)
    }

    /// `python3 -m http.server` serving `directory` on a free loopback port.
    final class FileServer {
        let process = Process()
        let port: Int

        init(directory: String) async throws {
            port = try freePort()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", "-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.runWatched()
            for _ in 0..<200 {
                if (try? await HTTP.request("GET", "http://127.0.0.1:\(port)/")) != nil { return }
                try await Task.sleep(for: .milliseconds(25))
            }
            throw Failure(description: "http.server did not start")
        }

        deinit {
            // SIGKILL: the test process's children inherit its threads' signal mask, SIGTERM
            // blocked (SigBlk in /proc), so a SIGTERM stayed pending and every run left three
            // http.servers running.
            kill(process.processIdentifier, SIGKILL)
            process.endedBlocking()
        }
    }

    struct Failure: Error, CustomStringConvertible { let description: String }

    static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacing("+", with: "-").replacing("/", with: "_").replacing("=", with: "")
    }

    @Test func onlyTheRSAAndECKeysWithAnIDAreTaken() async throws {
        let rsa = try _RSA.Signing.PrivateKey(keySize: .bits2048).publicKey.getKeyPrimitives()
        let rsaJWK: [String: Any] = [
            "kty": "RSA", "kid": "r1", "alg": "RS256", "n": Self.base64URL(rsa.modulus), "e": Self.base64URL(rsa.publicExponent),
        ]
        var noKid = Issuer(kid: "x").jwk
        noKid.removeValue(forKey: "kid")
        let document = try Self.document([
            rsaJWK, Issuer(kid: "e1").jwk, noKid, ["kty": "oct", "kid": "h1", "k": "c2VjcmV0"],
            ["kty": "OKP", "crv": "Ed25519", "kid": "o1", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"],
        ])
        let (_, kids, skipped) = try await JWKSKeys.keys(fromJSON: Data(document.utf8))
        #expect(kids == ["r1", "e1"] && skipped == 3)
        await #expect(throws: JWKSFetchError.self) { try await JWKSKeys.keys(fromJSON: Data("[]".utf8)) }
    }

    @Test func aTokenNamingAKeyOfTheSetIsCheckedWithItAndANewKeyIsFetched() async throws {
        let dir = try TemporaryDirectory()
        let (first, second) = (Issuer(kid: "2026-11"), Issuer(kid: "2026-12"))
        try Self.document([first.jwk]).write(toFile: dir.path("jwks.json"), atomically: true, encoding: .utf8)
        let server = try await FileServer(directory: dir.url.path)
        let jwks = JWKSKeys(url: "http://127.0.0.1:\(server.port)/jwks.json", logger: Logger(label: "test"), minimumRefetch: .zero)
        await jwks.refresh()
        let verifier = await ClientTokenVerifier(secret: TestTokens.secret, publicKey: nil, jwks: jwks, audience: nil, issuer: nil)
        #expect(verifier.algorithms == ["ES256", "HS256", "RS256"])
        let claims = ClientClaims(subject: "alice", expiration: Self.now.addingTimeInterval(3_600))
        #expect(try await verifier.verify(try await first.sign(claims), now: Self.now).user == "alice")
        #expect(try await verifier.verify(try await TestTokens.sign(claims), now: Self.now).user == "alice", "the secret still checks HS256")

        // The issuer rotates: the new key's first token makes the broker fetch the set again.
        let rotated = try await second.sign(claims)
        do {
            _ = try await verifier.verify(rotated, now: Self.now)
            Issue.record("a key not yet published was accepted")
        } catch {
            #expect(error == .unknownKey("2026-12") && error.closeReason == "token key not known")
        }
        try Self.document([first.jwk, second.jwk]).write(toFile: dir.path("jwks.json"), atomically: true, encoding: .utf8)
        #expect(try await verifier.verify(rotated, now: Self.now).user == "alice")
        // A token under a published kid but signed by another key, and one naming no key.
        let impostor = try await Issuer(kid: "2026-12").sign(claims)
        do {
            _ = try await verifier.verify(impostor, now: Self.now)
            Issue.record("accepted")
        } catch {
            #expect(error == .badSignature(algorithm: "ES256"))
        }
        let unnamed = try await JWTKeyCollection().add(ecdsa: first.key).sign(claims)
        do {
            _ = try await verifier.verify(unnamed, now: Self.now)
            Issue.record("accepted")
        } catch {
            #expect(error.closeReason == "malformed token", "\(error)")
        }
        withExtendedLifetime(server) {}
    }

    @Test func tokensArrivingDuringAFetchWaitForItAndAnUnknownKeyIsFetchedAtMostEvery30Seconds() async throws {
        let dir = try TemporaryDirectory()
        let issuer = Issuer(kid: "k1")
        try Self.document([issuer.jwk]).write(toFile: dir.path("jwks.json"), atomically: true, encoding: .utf8)
        let server = try await FileServer(directory: dir.url.path)
        // Not fetched yet: the first token starts the fetch, the others wait for it.
        let jwks = JWKSKeys(url: "http://127.0.0.1:\(server.port)/jwks.json", logger: Logger(label: "test"))
        let verifier = await ClientTokenVerifier(secret: nil, publicKey: nil, jwks: jwks, audience: nil, issuer: nil)
        let token = try await issuer.sign(ClientClaims(subject: "alice", expiration: Self.now.addingTimeInterval(3_600)))
        let users = await withTaskGroup(of: String?.self) { group in
            for _ in 0..<10 { group.addTask { try? await verifier.verify(token, now: Self.now).user } }
            return await group.reduce(into: [String?]()) { $0.append($1) }
        }
        #expect(users == Array(repeating: "alice", count: 10))
        // A key published after that fetch is not fetched for until 30 s have passed.
        let late = Issuer(kid: "k2")
        try Self.document([issuer.jwk, late.jwk]).write(toFile: dir.path("jwks.json"), atomically: true, encoding: .utf8)
        let lateToken = try await late.sign(ClientClaims(subject: "bob", expiration: Self.now.addingTimeInterval(3_600)))
        do {
            _ = try await verifier.verify(lateToken, now: Self.now)
            Issue.record("fetched again within 30 s")
        } catch {
            #expect(error == .unknownKey("k2"))
        }
        withExtendedLifetime(server) {}
    }

    @Test func aBrokerTakesTheKeySetsTokens() async throws {
        let dir = try TemporaryDirectory()
        let issuer = Issuer(kid: "k1")
        try Self.document([issuer.jwk]).write(toFile: dir.path("jwks.json"), atomically: true, encoding: .utf8)
        let server = try await FileServer(directory: dir.url.path)
        let broker = try await BrokerProcess(
            journal: dir.path("j.sqlite"), arguments: ["--jwt-jwks-url", "http://127.0.0.1:\(server.port)/jwks.json"])
        #expect(broker.logText.contains("JWKS fetched"), "\(broker.logText)")
        let token = try await issuer.sign(ClientClaims(subject: "alice", expiration: Date().addingTimeInterval(3_600)))
        let client = TestWebSocket(url: broker.webSocketURL + "?token=\(token)")
        #expect(try await client.receive()?["type"] as? String == "connected")
        let stranger = try await Issuer(kid: "k9").sign(ClientClaims(subject: "bob", expiration: Date().addingTimeInterval(3_600)))
        let refused = try RawWebSocketUpgrade.firstFrame(port: broker.port, path: "/ws/stock/prices?token=\(stranger)")
        #expect(refused.closeCode == 1008 && refused.closeReason == "token key not known")
        await client.close()
        #expect(await broker.terminate() == 0)
        withExtendedLifetime(server) {}
    }
}
