import Testing

@testable import Publishers

/// The signing settings of the moment, replaced in place by a reload.
struct SharedSecretsTests {
    private let message = Array(#"{"node":"a","instance":"i","news":{"id":"n","title":"t"}}"#.utf8)
    private let old = String(repeating: "o", count: 32)
    private let new = String(repeating: "n", count: 32)

    @Test func withoutASecretNothingIsSignedOrRequired() {
        let secrets = SharedSecrets()
        #expect(secrets.now.signer == nil)
        #expect(secrets.now.requiresSignatures, "required is the default; it only matters with a secret")
    }

    @Test func aReplacementSignsAndChecksWithTheNewSettingsFromThenOn() {
        let secrets = SharedSecrets(secret: old)
        let signedWithOld = secrets.now.signer?.sign(message) ?? []
        secrets.replace(secret: new, required: false, accepting: [old])
        let now = secrets.now
        #expect(!now.requiresSignatures)
        guard case .signed = now.signer?.verify(signedWithOld) else {
            Issue.record("the accepted old secret's signature is taken")
            return
        }
        let signedWithNew = now.signer?.sign(message) ?? []
        #expect(SharedMessageSigner(secret: old).verify(signedWithNew) == .forged, "signed with the new secret")
        secrets.replace(secret: nil, required: true, accepting: [])
        #expect(secrets.now.signer == nil)
    }
}
