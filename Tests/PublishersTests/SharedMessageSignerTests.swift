import Foundation
import Journal
import Testing

@testable import Publishers

/// What the nodes sign with a shared secret, and how a message read is checked.
struct SharedMessageSignerTests {
    private let signer = SharedMessageSigner(secret: String(repeating: "s", count: 32))
    private let message = Array(#"{"node":"node-a","instance":"i","news":{"id":"n-1","title":"标题"}}"#.utf8)

    private let stamp = SharedMessageSigner.Stamp(at: 1_765_000_000_123_456, number: 42)

    @Test func aSignedMessageIsTheMessageWithItsSignatureAndStampFirstAndChecksBackToIt() throws {
        let signed = signer.sign(message, stamp: stamp)
        let text = String(decoding: signed, as: UTF8.self)
        #expect(text.hasPrefix(#"{"sig":""#) && text.hasSuffix(String(decoding: message.dropFirst(), as: UTF8.self)))
        #expect(text.contains(#"","at":1765000000123456,"n":42,"node":"#), "\(text)")
        // Still one JSON object, whose other keys are the message's.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(signed)) as? [String: Any])
        #expect((object["sig"] as? String)?.count == 64 && object["node"] as? String == "node-a")
        #expect(signer.verify(signed) == .signed(message, stamp: stamp), "the message as it was, and its stamp")
        #expect(signer.sign(message, stamp: stamp) == signed, "the same message and stamp sign the same")
    }

    @Test func signingStampsTheTimeAndTheNextNumber() throws {
        let before = WallClock.microsecondsNow()
        let stamps = try (0..<3).map { _ in
            guard case .signed(let body, let stamp?) = signer.verify(signer.sign(message)) else { throw VerificationFailed() }
            #expect(body == message)
            return stamp
        }
        #expect(stamps[0].number < stamps[1].number && stamps[1].number < stamps[2].number, "one count for the process: \(stamps)")
        #expect(stamps.allSatisfy { $0.at >= before && $0.at <= WallClock.microsecondsNow() })
    }

    @Test func aSignatureWithoutAStampIsAnOlderBuildsAndChecksToNoStamp() {
        let unstamped = signer.sign(message, stamp: nil)
        #expect(String(decoding: unstamped, as: UTF8.self).contains(#"","node":"#))
        #expect(signer.verify(unstamped) == .signed(message, stamp: nil))
    }

    @Test func aChangedStampIsForged() {
        let signed = signer.sign(message, stamp: stamp)
        let text = String(decoding: signed, as: UTF8.self)
        for changed in [text.replacingOccurrences(of: #""n":42,"#, with: #""n":43,"#), text.replacingOccurrences(of: #"123456,"#, with: #"123457,"#)] {
            #expect(changed != text && signer.verify(Array(changed.utf8)) == .forged, "\(changed)")
        }
    }

    @Test func anyChangeAnotherSecretOrAMalformedSignatureIsForged() {
        let signed = signer.sign(message)
        var changed = signed
        changed[changed.count - 5] ^= 0x01
        #expect(signer.verify(changed) == .forged)
        #expect(SharedMessageSigner(secret: String(repeating: "t", count: 32)).verify(signed) == .forged)
        var upper = signed
        upper.replaceSubrange(8..<9, with: Array("G".utf8))
        #expect(signer.verify(upper) == .forged, "not a hex digit")
        #expect(signer.verify(Array(#"{"sig":"00","node":"a"}"#.utf8)) == .forged, "too short")
        #expect(signer.verify(Array(signed.prefix(74))) == .forged, "cut off after the signature")
    }

    @Test func whileTheSecretIsRotatedTheOtherSecretsSignaturesAreTakenButNotMade() {
        let old = SharedMessageSigner(secret: String(repeating: "o", count: 32))
        let rotating = SharedMessageSigner(secret: String(repeating: "n", count: 32), accepting: [String(repeating: "o", count: 32)])
        #expect(rotating.verify(old.sign(message, stamp: stamp)) == .signed(message, stamp: stamp))
        #expect(rotating.verify(rotating.sign(message, stamp: stamp)) == .signed(message, stamp: stamp))
        #expect(old.verify(rotating.sign(message)) == .forged, "signed with the new secret")
        #expect(rotating.verify(signer.sign(message)) == .forged, "a third secret")
    }

    @Test func aMessageWithoutASignatureIsUnsignedAndTakenAsItIs() {
        #expect(signer.verify(message) == .unsigned(message))
        let sigLater = Array(#"{"node":"a","sig":"x"}"#.utf8)
        #expect(signer.verify(sigLater) == .unsigned(sigLater), "only a first sig key is a signature")
        #expect(signer.sign(Array("[]".utf8)) == Array("[]".utf8), "not an object: nothing to sign")
    }

    @Test func theCodecSignsWhatItEncodesLoggedOrNot() throws {
        let origin = NodeOrigin(node: "node-a", instance: "00000000000000aa")
        let update = SharedUpdate.alertRuleRemoved(ruleID: "r1", user: "alice")
        // JSONEncoder's key order may differ from one encoding to the next: compared as objects.
        func object(_ bytes: [UInt8]) throws -> NSDictionary {
            try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary)
        }
        guard case .signed(let body, _?) = signer.verify(SharedMessageCodec.encode(update, origin: origin, signer: signer)) else {
            Issue.record("not signed")
            return
        }
        #expect(try object(body) == object(SharedMessageCodec.encode(update, origin: origin)))
        #expect(try SharedMessageCodec.decodeAlerts(body, channel: "md:alerts").update == update)
        let entry = try #require(SharedMessageCodec.logEntry(update, origin: origin, log: "md:log", signer: signer))
        guard case .signed(let loggedBody, _?) = signer.verify(entry[1].1) else {
            Issue.record("the log entry's message is not signed")
            return
        }
        #expect(SharedMessageCodec.isLogged(loggedBody))
        #expect(try object(loggedBody) == object(SharedMessageCodec.encode(update, origin: origin, log: "md:log")))
    }
}

private struct VerificationFailed: Error {}
