import Testing
import Broker
import NIOCore

@testable import brokerd

/// Parsing client messages: shapes that must be accepted or refused whatever the platform's bridging.
@Suite struct ClientRequestTests {
    private func setAlert(threshold: String) throws(ClientRequest.Rejection) -> ClientRequest {
        try ClientRequest.parse(
            #"{"type":"set_alert","code":"600519","condition":"above","threshold":\#(threshold)}"#, maxTargetLength: 64).request
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
            try ClientRequest.parse(#"{"type":"subscribe","subscription_type":"news","target":"\#(target)"}"#, maxTargetLength: 8).request
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

    // MARK: Request ids

    private func identified(_ json: String) throws(ClientRequest.Rejection) -> IdentifiedRequest {
        try ClientRequest.parse(json, maxTargetLength: 64)
    }

    @Test(arguments: [
        (#""id":0"#, RequestID.number(0)),
        (#""id":9007199254740991"#, .number(9_007_199_254_740_991)),
        (#""id":12.0"#, .number(12)),
        (#""id":"sub-1""#, .text("sub-1")),
        (#""id":"\#(String(repeating: "界", count: 64))""#, .text(String(repeating: "界", count: 64))),
    ])
    func aRequestsIDIsKeptForItsReplies(_ field: String, _ id: RequestID) throws {
        let parsed = try identified(#"{"type":"subscribe","target":"volume_wave",\#(field)}"#)
        #expect(parsed == IdentifiedRequest(request: .subscribe(Subscription(type: .strategy, target: "volume_wave")), id: id))
        #expect(try identified(#"{"type":"ping"}"#).id == nil, "the seed's messages carry none")
    }

    @Test(arguments: [
        #""id":-1"#, #""id":9007199254740992"#, #""id":1.5"#, #""id":true"#, #""id":null"#, #""id":"""#,
        #""id":"\#(String(repeating: "x", count: 65))""#, #""id":[1]"#, #""id":{"n":1}"#,
    ])
    func anIDThatCannotBeEchoedExactlyIsRefused(_ field: String) {
        do {
            let parsed = try identified(#"{"type":"ping",\#(field)}"#)
            Issue.record("accepted \(field) as \(String(describing: parsed.id))")
        } catch {
            #expect(error.error == "invalid_id")
            #expect(error.id == nil)
        }
    }

    @Test func severalTargetsOfOneTypeAreOneRequestEachOnceInOrder() throws {
        let parsed = try identified(#"{"type":"subscribe","subscription_type":"stock","targets":["600519","000001","600519"],"id":4}"#)
        #expect(parsed == IdentifiedRequest(
            request: .subscribeAll([Subscription(type: .stock, target: "600519"), Subscription(type: .stock, target: "000001")]), id: .number(4)))
        #expect(try identified(#"{"type":"unsubscribe","targets":["vw"]}"#).request == .unsubscribeAll([Subscription(type: .strategy, target: "vw")]))
        let tooMany = "[" + (0...ClientRequest.maxTargets).map { "\"\($0)\"" }.joined(separator: ",") + "]"
        for (targets, mention) in [
            (#"[]"#, "array of 1 to"), (#""600519""#, "array of 1 to"), (tooMany, "array of 1 to"), (#"["600519",7]"#, "targets[1] is not a string"),
            (#"["600519",""]"#, "targets[1] must not be empty"), (#"["\#(String(repeating: "x", count: 65))"]"#, "targets[0] is longer than 64"),
        ] {
            do {
                let parsed = try identified(#"{"type":"subscribe","subscription_type":"stock","targets":\#(targets)}"#)
                Issue.record("accepted \(targets.prefix(40)) as \(parsed)")
            } catch {
                #expect(error.error == "invalid_target" && error.details.contains(mention), "\(error.details)")
            }
        }
        do {
            _ = try identified(#"{"type":"subscribe","target":"a","targets":["b"]}"#)
            Issue.record("accepted target and targets together")
        } catch {
            #expect(error.error == "invalid_target" && error.details.contains("not both"))
        }
    }

    @Test func aRefreshCarriesItsTokenAndOneWithoutIsRefused() throws {
        #expect(try identified(#"{"type":"refresh","token":"a.b.c","id":3}"#) == IdentifiedRequest(request: .refresh(token: "a.b.c"), id: .number(3)))
        for message in [#"{"type":"refresh"}"#, #"{"type":"refresh","token":""}"#, #"{"type":"refresh","token":42}"#, #"{"type":"refresh","token":null}"#] {
            do {
                let parsed = try identified(message)
                Issue.record("accepted \(message) as \(parsed)")
            } catch {
                #expect(error.error == "missing_token", "\(message)")
            }
        }
    }

    @Test func aRefusedRequestsErrorAnswersItsID() {
        #expect(throws: ClientRequest.Rejection(error: "invalid_target", details: "target must not be empty", id: .number(3))) {
            try identified(#"{"type":"subscribe","target":"","id":3}"#)
        }
        #expect {
            try identified(#"{"type":"ping","type":"list_alerts","id":"x"}"#)
        } throws: { error in
            (error as? ClientRequest.Rejection)?.error == "duplicate_key" && (error as? ClientRequest.Rejection)?.id == .text("x")
        }
        #expect {
            try identified(#"{"type":"ping","id":1,"id":2}"#)
        } throws: { error in
            (error as? ClientRequest.Rejection)?.error == "duplicate_key" && (error as? ClientRequest.Rejection)?.id == nil
        }
    }

    @Test func theIDOfAFrameRefusedUnreadIsFoundWhenItHasOne() {
        #expect(ClientRequest.id(in: Array(#"{"type":"subscribe","id":41}"#.utf8)) == .number(41))
        #expect(ClientRequest.id(in: Array(#"{"type":"subscribe","id":false}"#.utf8)) == nil)
        #expect(ClientRequest.id(in: Array("not json".utf8)) == nil)
    }

    @Test func aReplyCarriesTheIDBesideItsOwnFieldsAndNoneWithout() throws {
        let pong = ServerMessage.Pong(timestamp: "2026-12-04T00:00:00Z")
        #expect(String(buffer: ServerMessage.reply(pong, to: .number(7))) == #"{"id":7,"timestamp":"2026-12-04T00:00:00Z","type":"pong"}"#)
        #expect(String(buffer: ServerMessage.reply(pong, to: .text("a\"b"))) == #"{"id":"a\"b","timestamp":"2026-12-04T00:00:00Z","type":"pong"}"#)
        #expect(String(buffer: ServerMessage.reply(pong, to: nil)) == #"{"timestamp":"2026-12-04T00:00:00Z","type":"pong"}"#)
    }
}
