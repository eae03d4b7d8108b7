import Foundation
import Testing

@testable import BrokerClient

/// When the client asks for the next token: read from a token's `exp`, ahead of it but never
/// before halfway through the token's life.
struct TokenExpiryTests {
    /// A token with `claims` as its payload (the signature is not read).
    private func token(_ claims: String) -> String {
        func part(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }
        return part(#"{"alg":"HS256","typ":"JWT"}"#) + "." + part(claims) + ".c2lnbmF0dXJl"
    }

    @Test func theExpOfAJWTIsRead() {
        #expect(TokenExpiry.of(token(#"{"sub":"alice","exp":1796600000}"#)) == Date(timeIntervalSince1970: 1_796_600_000))
        // base64url characters and no padding: a sub whose encoding has - and _ in it.
        #expect(TokenExpiry.of(token(#"{"sub":"??>>~~","exp":1796600001.5}"#)) == Date(timeIntervalSince1970: 1_796_600_001.5))
    }

    @Test(arguments: [
        "not-a-jwt", "a.b", "a.b.c.d", "x.!!!.y",
    ])
    func somethingThatIsNoJWTHasNoExp(_ text: String) {
        #expect(TokenExpiry.of(text) == nil)
    }

    @Test(arguments: [#"{"sub":"alice"}"#, #"{"exp":"1796600000"}"#, #"{"exp":true}"#, #"[1796600000]"#])
    func aPayloadWithoutANumericExpHasNone(_ claims: String) {
        #expect(TokenExpiry.of(token(claims)) == nil, "\(claims)")
    }

    @Test func aTokenIsRefreshedAheadOfItsExpButNotBeforeHalfItsLife() {
        let taken = Date(timeIntervalSince1970: 1_000_000)
        // An hour-long token: 30 s before it expires.
        #expect(TokenExpiry.refreshMoment(expiry: taken.addingTimeInterval(3_600), takenAt: taken, ahead: .seconds(30))
            == taken.addingTimeInterval(3_570))
        // A 20 s token: halfway, not 30 s before (at once, and again and again).
        #expect(TokenExpiry.refreshMoment(expiry: taken.addingTimeInterval(20), takenAt: taken, ahead: .seconds(30))
            == taken.addingTimeInterval(10))
        // Already expired when taken: now is the moment.
        #expect(TokenExpiry.refreshMoment(expiry: taken.addingTimeInterval(-5), takenAt: taken, ahead: .seconds(30))
            == taken.addingTimeInterval(-5))
    }
}
