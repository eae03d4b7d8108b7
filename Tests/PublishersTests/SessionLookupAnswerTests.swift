import Foundation
import Testing

@testable import Publishers

/// A lookup's answer too large for one message (`SessionLookupAnswer.maxBodyBytes`) goes in
/// parts, each a piece of the body cut between two characters, which the node asked joins.
struct SessionLookupAnswerTests {
    private let notHere = SessionLookupAnswer(requestID: "r1", askedOn: "node-a", node: "node-b", target: .connections)
    private let fromB = NodeOrigin(node: "node-b", instance: "00000000000000bb")

    @Test func aBodyThatFitsGoesInOneMessage() throws {
        let body = #"{"clients":[]}"#
        let messages = try #require(notHere.carrying(body, maxBytes: body.utf8.count))
        #expect(messages.count == 1 && messages[0].body == body && messages[0].part == 0 && messages[0].parts == 1)
        // On the wire it is what nodes of earlier builds send: no part, no parts.
        let wire = try #require(try JSONSerialization.jsonObject(with: Data(SharedMessageCodec.encode(.sessionLookupAnswered(messages[0]), origin: fromB))) as? [String: Any])
        let found = try #require(wire["found_connections"] as? [String: Any])
        #expect(found["part"] == nil && found["parts"] == nil, "\(found)")
    }

    /// Three-byte characters (the stock names are Chinese) are never cut: every piece is valid
    /// UTF-8, at most the limit long, and the pieces joined are the body.
    @Test(arguments: [(6, 15), (7, 13), (8, 11), (64, 2), (79, 2)])
    func aLargerBodyGoesInPiecesCutBetweenCharacters(maxBytes: Int, expectedParts: Int) throws {
        // 80 bytes: 6-byte pieces that did not back off before a character's continuation bytes
        // would take 14 messages.
        let body = #"{"clients":[{"target":"贵州茅台","name":"平安银行"},{"x":"abc€𝄞"}]}"#
        let messages = try #require(notHere.carrying(body, maxBytes: maxBytes))
        #expect(messages.count == expectedParts)
        for (index, message) in messages.enumerated() {
            let piece = try #require(message.body)
            #expect(message.part == index && message.parts == messages.count)
            #expect(piece.utf8.count <= maxBytes && !piece.isEmpty)
            #expect(String(validating: Array(piece.utf8), as: UTF8.self) == piece)
        }
        #expect(messages.compactMap(\.body).joined() == body)
        let whole = try #require(SessionLookupAnswer.joined(messages))
        #expect(whole.body == body && whole.part == 0 && whole.parts == 1)
        #expect(whole == SessionLookupAnswer(requestID: "r1", askedOn: "node-a", node: "node-b", target: .connections, body: body))
    }

    @Test func moreThanSixteenMessagesIsNotSent() throws {
        let body = "{" + String(repeating: "a", count: 16 * 10 - 2) + "}"
        #expect(notHere.carrying(body, maxBytes: 10)?.count == 16)
        #expect(notHere.carrying(body + " ", maxBytes: 10) == nil)
        #expect(try #require(notHere.carrying(body)).count == 1, "a full message is 1 MiB")
    }

    @Test func partsRoundTripOnTheWire() throws {
        let body = #"{"subscriptions":[{"type":"strategy","target":"量化一号"}],"count":1}"#
        let messages = try #require(notHere.carrying(body, maxBytes: 16))
        #expect(messages.count >= 3)
        for message in messages {
            let encoded = SharedMessageCodec.encode(.sessionLookupAnswered(message), origin: fromB)
            let wire = try #require(try JSONSerialization.jsonObject(with: Data(encoded)) as? [String: Any])
            let found = try #require(wire["found_connections"] as? [String: Any])
            #expect(found["part"] as? Int == message.part && found["parts"] as? Int == messages.count, "\(found)")
            #expect(try SharedMessageCodec.decodeRemovals(encoded, channel: "md:removals", now: 0).update == .sessionLookupAnswered(message))
        }
    }

    /// Every node reads every answer (pub/sub has no addressing): one over 64 KiB for another
    /// node is known from its bytes and skipped undecoded.
    @Test func aLargeAnswerForAnotherNodeIsKnownWithoutDecodingIt() throws {
        let body = #"{"clients":[""# + String(repeating: "量", count: 200_000) + #""]}"#
        let part = try #require(notHere.carrying(body)?.first)
        let message = SharedMessageCodec.encode(.sessionLookupAnswered(part), origin: fromB)
        #expect(message.count > 64 << 10)
        #expect(SharedMessageCodec.isLargeAnswer(message, forAnotherNodeThan: "node-c"))
        #expect(!SharedMessageCodec.isLargeAnswer(message, forAnotherNodeThan: "node-a"), "the node asked")
        #expect(SharedMessageCodec.isLargeAnswer(message, forAnotherNodeThan: "node-"), "a prefix of it is another node")
        #expect(!SharedMessageCodec.isLargeAnswer(message, forAnotherNodeThan: "node-c", minBytes: message.count), "small: decoded as before")
        let small = SharedMessageCodec.encode(.sessionLookupAnswered(notHere), origin: fromB)
        #expect(!SharedMessageCodec.isLargeAnswer(small, forAnotherNodeThan: "node-c"))

        // The body's text cannot pass for the key (its quotes are escaped), a node asked that is
        // not written plainly is not guessed at, and a request is no answer.
        let padding = String(repeating: " ", count: 70_000)
        func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
        let bodyFirst = #"{"node":"node-b","found_connections":{"body":"{\"asked_on\":\"node-z\"}\#(padding)","request_id":"r","asked_on":"node-a"}}"#
        #expect(!SharedMessageCodec.isLargeAnswer(bytes(bodyFirst), forAnotherNodeThan: "node-a"))
        #expect(SharedMessageCodec.isLargeAnswer(bytes(bodyFirst), forAnotherNodeThan: "node-z"))
        let escaped = #"{"node":"node-b","found_connections":{"request_id":"r","asked_on":"node\"a","body":"{}\#(padding)"}}"#
        #expect(!SharedMessageCodec.isLargeAnswer(bytes(escaped), forAnotherNodeThan: "node-c"))
        let request = #"{"node":"node-b","find_connections":{"request_id":"r"},"asked_on":"node-a"\#(padding)}"#
        #expect(!SharedMessageCodec.isLargeAnswer(bytes(request), forAnotherNodeThan: "node-c"))
    }

    @Test func partsThatAreNotOneAnswersAreNotJoined() throws {
        let messages = try #require(notHere.carrying(#"{"clients":[1,2,3,4,5,6,7,8,9]}"#, maxBytes: 8))
        #expect(SessionLookupAnswer.joined(messages) != nil)
        #expect(SessionLookupAnswer.joined(Array(messages.dropLast())) == nil, "one missing")
        #expect(SessionLookupAnswer.joined(messages.reversed()) == nil, "out of order")
        var otherNode = messages
        otherNode[1].node = "node-c"
        #expect(SessionLookupAnswer.joined(otherNode) == nil)
        var otherRequest = messages
        otherRequest[2].requestID = "r2"
        #expect(SessionLookupAnswer.joined(otherRequest) == nil)
        #expect(SessionLookupAnswer.joined([]) == nil)
    }
}
