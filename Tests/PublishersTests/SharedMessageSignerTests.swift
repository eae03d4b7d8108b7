import Foundation
import Testing

@testable import Publishers

/// What the nodes sign with a shared secret, and how a message read is checked.
struct SharedMessageSignerTests {
    private let signer = SharedMessageSigner(secret: String(repeating: "s", count: 32))
    private let message = Array(#"{"node":"node-a","instance":"i","news":{"id":"n-1","title":"标题"}}"#.utf8)

    @Test func aSignedMessageIsTheMessageWithItsSignatureFirstAndChecksBackToIt() throws {
        let signed = signer.sign(message)
        let text = String(decoding: signed, as: UTF8.self)
        #expect(text.hasPrefix(#"{"sig":""#) && text.hasSuffix(String(decoding: message.dropFirst(), as: UTF8.self)))
        // Still one JSON object, whose other keys are the message's.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(signed)) as? [String: Any])
        #expect((object["sig"] as? String)?.count == 64 && object["node"] as? String == "node-a")
        #expect(signer.verify(signed) == .signed(message))
        #expect(signer.sign(message) == signed, "the same message signs the same")
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
        #expect(rotating.verify(old.sign(message)) == .signed(message))
        #expect(rotating.verify(rotating.sign(message)) == .signed(message))
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
        guard case .signed(let body) = signer.verify(SharedMessageCodec.encode(update, origin: origin, signer: signer)) else {
            Issue.record("not signed")
            return
        }
        #expect(try object(body) == object(SharedMessageCodec.encode(update, origin: origin)))
        #expect(try SharedMessageCodec.decodeAlerts(body, channel: "md:alerts").update == update)
        let entry = try #require(SharedMessageCodec.logEntry(update, origin: origin, log: "md:log", signer: signer))
        guard case .signed(let loggedBody) = signer.verify(entry[1].1) else {
            Issue.record("the log entry's message is not signed")
            return
        }
        #expect(SharedMessageCodec.isLogged(loggedBody))
        #expect(try object(loggedBody) == object(SharedMessageCodec.encode(update, origin: origin, log: "md:log")))
    }
}
