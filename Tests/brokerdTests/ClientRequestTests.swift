import Testing
import Broker

@testable import brokerd

/// Parsing client messages: shapes that must be accepted or refused whatever the platform's bridging.
@Suite struct ClientRequestTests {
    private func setAlert(threshold: String) throws(ClientRequest.Rejection) -> ClientRequest {
        try ClientRequest.parse(
            #"{"type":"set_alert","code":"600519","condition":"above","threshold":\#(threshold)}"#, maxTargetLength: 64)
    }

    @Test(arguments: [("0", 0.0), ("1", 1.0), ("1.0", 1.0), ("2", 2.0), ("1850.5", 1850.5), ("-3", -3.0)])
    func setAlertAcceptsEveryNumberAsThreshold(_ text: String, _ value: Double) throws {
        #expect(try setAlert(threshold: text) == .setAlert(code: "600519", condition: .above, threshold: value))
    }

    @Test(arguments: ["true", "false", #""1""#, "null"])
    func setAlertRefusesAThresholdThatIsNotANumber(_ text: String) {
        #expect(throws: ClientRequest.Rejection.self) { try setAlert(threshold: text) }
        do {
            _ = try setAlert(threshold: text)
        } catch {
            #expect(error.error == "invalid_threshold")
        }
    }

    @Test(arguments: [
        (#"{"a":1,"a":2}"#, "a"),
        (#"{"a":1,"b":{"a":2}}"#, nil),
        (#"[{"a":1},{"a":2}]"#, nil),
        (#"{"a":1,"\u0061":2}"#, "a"),
        (#"{"x":"a","a":1}"#, nil),
        (#"{"t":"\"","u":"\\","t":2}"#, "t"),
        (#"{"😀":1,"\ud83d\ude00":2}"#, "😀"),
        (#"{"a":[1,{"b":1,"c":[],"b":2}]}"#, "b"),
        (#"{"a":{"b":1},"a":3}"#, "a"),
        (#"{"type":"ping"}"#, nil),
        ("not json", nil),
        (#"{"a":"#, nil),
    ] as [(String, String?)])
    func duplicateKeysAreFoundWithinOneObjectOnly(_ json: String, _ duplicate: String?) {
        #expect(DuplicateJSONKeys.first(in: json.utf8) == duplicate, "\(json)")
    }

    @Test func aMessageWithAKeyTwiceIsRefusedWhicheverWouldHaveCounted() {
        #expect {
            try ClientRequest.parse(#"{"type":"ping","type":"subscribe","target":"volume_wave"}"#, maxTargetLength: 64)
        } throws: { error in
            (error as? ClientRequest.Rejection)?.error == "duplicate_key"
                && (error as? ClientRequest.Rejection)?.details.contains(#"the key "type" appears twice"#) == true
        }
        // Broken JSON is still called broken JSON, whatever keys it repeats.
        #expect { try ClientRequest.parse(#"{"type":"ping","type":"#, maxTargetLength: 64) } throws: { error in
            (error as? ClientRequest.Rejection)?.error == "invalid_json"
        }
    }

    @Test func aTargetIsMeasuredInUnicodeScalars() throws {
        func subscribe(_ target: String) throws(ClientRequest.Rejection) -> ClientRequest {
            try ClientRequest.parse(#"{"type":"subscribe","subscription_type":"news","target":"\#(target)"}"#, maxTargetLength: 8)
        }
        #expect(try subscribe("财经新闻财经新闻") == .subscribe(Subscription(type: .news, target: "财经新闻财经新闻")))
        // One grapheme cluster, nine scalars.
        do {
            _ = try subscribe("e" + String(repeating: "\u{301}", count: 8))
            Issue.record("a nine-scalar target passed a limit of 8")
        } catch {
            #expect(error.error == "invalid_target")
        }
    }
}
