import Broker
import Foundation
import HummingbirdWSClient
import NIOCore
import Testing

@testable import brokerd

@Suite struct OutboxQueueTests {
    private func entry(_ code: String, _ price: Double) -> ServerMessage.PriceEntry {
        ServerMessage.PriceEntry(PriceTick(code: code, name: code, price: price, volume: 1, prevClose: 10, timestamp: 0))
    }

    private let stock = Subscription(type: .strategy, target: "volume_wave")

    /// The JSON object a queued text frame carries.
    private func decode(_ frame: ByteBuffer?) throws -> [String: Any] {
        let bytes = Array(try #require(frame).readableBytesView)
        #expect(bytes.first == 0x81)
        let headerLength = switch bytes[1] { case 126: 4; case 127: 10; default: 2 }
        return try #require(try JSONSerialization.jsonObject(with: Data(bytes.dropFirst(headerLength))) as? [String: Any])
    }

    @Test func aClientThatKeepsUpGetsTheSharedBufferAsIs() {
        var queue = OutboxQueue(capacity: 64)
        let shared = ByteBuffer(string: #"{"type":"price_update"}"#)
        #expect(queue.pushPrices(shared, entries: [entry("600519", 11)], seq: 5, for: stock) == .queued)
        #expect(queue.next() == shared)
        #expect(queue.next() == nil)
    }

    @Test func aClientThatFallsBehindGetsPricesCoalescedPerCodeLatestWins() throws {
        var queue = OutboxQueue(capacity: 16)  // coalesces beyond 2 queued messages
        _ = queue.push(ByteBuffer(string: #"{"type":"a"}"#))
        _ = queue.push(ByteBuffer(string: #"{"type":"b"}"#))
        for (n, price) in [11.0, 12.0, 13.0].enumerated() {
            _ = queue.pushPrices(ByteBuffer(string: "unused"), entries: [entry("600519", price)], seq: UInt64(10 + n), for: stock)
        }
        _ = queue.pushPrices(ByteBuffer(string: "unused"), entries: [entry("000001", 7)], seq: 20, for: stock)
        #expect(queue.depth == 3, "two replies and one merged price update")

        _ = queue.next()
        _ = queue.next()
        let merged = try decode(queue.next())
        #expect(merged["seq"] as? Int == 20)
        let data = try #require(merged["data"] as? [[String: Any]])
        #expect(data.map { $0["code"] as? String } == ["000001", "600519"])
        #expect(data.last?["price"] as? Double == 13)
        #expect(queue.isEmpty)
    }

    @Test func mergingNeverMovesALaterSeqAheadOfAMessageThatMustArrive() throws {
        var queue = OutboxQueue(capacity: 16)  // coalesces beyond 2 queued messages
        _ = queue.push(ByteBuffer(string: #"{"type":"a"}"#))
        _ = queue.push(ByteBuffer(string: #"{"type":"b"}"#))
        _ = queue.pushPrices(ByteBuffer(string: "unused"), entries: [entry("600519", 11)], seq: 10, for: stock)
        _ = queue.push(WebSocketWire.textFrame(ByteBuffer(string: #"{"type":"news_update","seq":11}"#)))
        _ = queue.pushPrices(ByteBuffer(string: "unused"), entries: [entry("600519", 12)], seq: 12, for: stock)
        _ = queue.pushPrices(ByteBuffer(string: "unused"), entries: [entry("000001", 7)], seq: 13, for: stock)

        _ = queue.next()
        _ = queue.next()
        var delivered: [(type: String, seq: Int, codes: [String])] = []
        while let frame = queue.next() {
            let message = try decode(frame)
            let codes = (message["data"] as? [[String: Any]] ?? []).compactMap { $0["code"] as? String }
            delivered.append((try #require(message["type"] as? String), try #require(message["seq"] as? Int), codes))
        }
        // The update sealed behind the news keeps seq 10; later prices merge into one after it.
        #expect(delivered.map(\.type) == ["price_update", "news_update", "price_update"])
        #expect(delivered.map(\.seq) == [10, 11, 13])
        #expect(delivered.map(\.codes) == [["600519"], [], ["000001", "600519"]])
    }

    @Test func messagesThatMustArriveOverflowTheQueueInsteadOfBeingDropped() {
        var queue = OutboxQueue(capacity: 4)
        var results: [OutboxQueue.Pushed] = []
        for n in 0..<6 { results.append(queue.push(ByteBuffer(string: "\(n)"))) }
        #expect(results.prefix(4).allSatisfy { $0 == .queued })
        #expect(results.last == .overflow)
        #expect(queue.depth == 6)
    }

    @Test func closingKeepsTheQueueForTheLastWritesOrDropsItWhenDiscarding() {
        var draining = OutboxQueue(capacity: 8)
        _ = draining.push(ByteBuffer(string: "last words"))
        draining.close(discardQueued: false)
        #expect(draining.push(ByteBuffer(string: "late")) == .closed)
        #expect(draining.next() == ByteBuffer(string: "last words"))
        #expect(draining.next() == nil)

        var discarding = OutboxQueue(capacity: 8)
        _ = discarding.push(ByteBuffer(string: "never sent"))
        discarding.close(discardQueued: true)
        #expect(discarding.next() == nil)
        #expect(discarding.pushPrices(ByteBuffer(), entries: [entry("600519", 1)], seq: 1, for: stock) == .closed)
    }
}

@Suite struct ProtocolTests {
    @Test func subscriptionTypeDefaultsToStrategy() throws {
        #expect(try ClientRequest.parse(#"{"type":"subscribe","target":"volume_wave"}"#, maxTargetLength: 64).request
            == .subscribe(Subscription(type: .strategy, target: "volume_wave")))
        #expect(try ClientRequest.parse(#"{"type":"ping"}"#, maxTargetLength: 64).request == .ping)
    }

    @Test(arguments: [
        ("{", "invalid_json"), ("[]", "invalid_message"), ("42", "invalid_message"), (#"{"type":7}"#, "missing_type"),
        (#"{"type":"hello"}"#, "unknown_type"), (#"{"type":"subscribe"}"#, "missing_target"),
        (#"{"type":"subscribe","target":""}"#, "invalid_target"),
        (#"{"type":"subscribe","subscription_type":"bonds","target":"x"}"#, "invalid_subscription_type"),
        (#"{"type":"unsubscribe","subscription_type":1,"target":"x"}"#, "invalid_subscription_type"),
    ])
    func malformedMessagesAreRejectedWithTheirCode(text: String, code: String) {
        #expect {
            try ClientRequest.parse(text, maxTargetLength: 64)
        } throws: { error in
            (error as? ClientRequest.Rejection)?.error == code
        }
    }

    @Test func wireTimeIsISO8601UTCWithMicroseconds() {
        #expect(WireTime.format(microseconds: 0) == "1970-01-01T00:00:00.000000Z")
        #expect(WireTime.format(microseconds: 1_795_426_200_123_456) == "2026-11-23T09:30:00.123456Z")
        #expect(WireTime.format(microseconds: 951_782_400_000_001) == "2000-02-29T00:00:00.000001Z")
    }
}

@Suite struct WebSocketWireTests {
    /// The header length and the length field for a payload of `count` bytes.
    private func header(for count: Int) -> [UInt8] {
        let frame = WebSocketWire.textFrame(ByteBuffer(repeating: 0x61, count: count))
        #expect(frame.readableBytes > count)
        let bytes = Array(frame.readableBytesView)
        #expect(bytes.suffix(count).allSatisfy { $0 == 0x61 }, "the payload follows the header unmasked")
        return Array(bytes.prefix(frame.readableBytes - count))
    }

    @Test func textFramesCarryFinOpcodeAndTheShortestLengthField() {
        #expect(header(for: 0) == [0x81, 0])
        #expect(header(for: 125) == [0x81, 125])
        #expect(header(for: 126) == [0x81, 126, 0, 126])
        #expect(header(for: 65_535) == [0x81, 126, 0xFF, 0xFF])
        #expect(header(for: 65_536) == [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0])
        for length in [0, 125, 126, 65_535, 65_536] {
            let frame = WebSocketWire.textFrame(ByteBuffer(repeating: 0x61, count: length))
            #expect(WebSocketWire.frameLength(payload: length) == frame.readableBytes, "length \(length)")
        }
        #expect(WebSocketWire.textFrame(ByteBuffer(string: "{}"), compressed: true).readableBytesView.first == 0xC1, "RSV1")
    }

    @Test func closeFramesCarryTheCodeAndAReasonCutToFitAControlFrame() {
        #expect(Array(WebSocketWire.closeFrame(.policyViolation, reason: "kicked").readableBytesView)
            == [0x88, 8, 0x03, 0xF0] + Array("kicked".utf8))
        let long = WebSocketWire.closeFrame(.goingAway, reason: String(repeating: "x", count: 300))
        #expect(Array(long.readableBytesView.prefix(4)) == [0x88, 125, 0x03, 0xE9])
        #expect(long.readableBytes == 127)
    }
}

@Suite struct MessageAssemblerTests {
    private func text(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

    @Test func fragmentsBecomeOneMessageWithTheFirstFramesOpcode() {
        var assembler = MessageAssembler(maxBytes: 100)
        #expect(assembler.take(.text, text("{\"type\":"), fin: false) == .incomplete)
        #expect(assembler.take(.continuation, text("\"ping\""), fin: false) == .incomplete)
        #expect(assembler.take(.continuation, text("}"), fin: true) == .message(text(#"{"type":"ping"}"#), .text))
        #expect(assembler.take(.binary, text("x"), fin: true) == .message(text("x"), .binary))
    }

    @Test func anOversizedMessageIsRefusedOnceAndItsRestDropped() {
        var assembler = MessageAssembler(maxBytes: 8)
        #expect(assembler.take(.text, text("12345"), fin: false) == .incomplete)
        #expect(assembler.take(.continuation, text("67890"), fin: false) == .tooLarge)
        #expect(assembler.take(.continuation, text("more"), fin: false) == .incomplete)
        #expect(assembler.take(.continuation, text("end"), fin: true) == .incomplete)
        #expect(assembler.take(.text, text("ok"), fin: true) == .message(text("ok"), .text), "the next message is fine")
        #expect(assembler.take(.text, text("123456789"), fin: true) == .tooLarge)
    }

    @Test func aContinuationWithoutAStartIsRefusedAndDropped() {
        var assembler = MessageAssembler(maxBytes: 100)
        #expect(assembler.take(.continuation, text("stray"), fin: true) == .strayContinuation)
        #expect(!assembler.isAssembling)
        #expect(assembler.take(.text, text("ok"), fin: true) == .message(text("ok"), .text))
    }

    @Test func aNewMessageBeforeTheLastFragmentDropsTheUnfinishedOne() {
        var assembler = MessageAssembler(maxBytes: 100)
        #expect(assembler.take(.text, text("{\"type\":"), fin: false) == .incomplete)
        #expect(assembler.isAssembling)
        #expect(assembler.take(.text, text("new"), fin: true) == .message(text("new"), .text), "nothing of the first")
        #expect(!assembler.isAssembling)
    }

    /// Kept between messages, storage would hold each connection's largest message for good.
    @Test func noStorageIsHeldBetweenMessages() {
        var assembler = MessageAssembler(maxBytes: 100_000)
        let large = String(repeating: "x", count: 60_000)
        #expect(assembler.take(.text, text(large), fin: true) == .message(text(large), .text))
        #expect(assembler.heldCapacity == 0)
        #expect(assembler.take(.text, text(large), fin: false) == .incomplete)
        #expect(assembler.heldCapacity >= 60_000, "gathering")
        #expect(assembler.take(.continuation, text("y"), fin: true) == .message(text(large + "y"), .text))
        #expect(assembler.heldCapacity == 0)
        #expect(assembler.take(.text, text(large + large), fin: false) == .tooLarge)
        #expect(assembler.heldCapacity == 0, "an oversized message's fragments are dropped, not kept")
    }

    @Test func anOversizedMessageCutShortByANewOneIsNotDroppedTwice() {
        var assembler = MessageAssembler(maxBytes: 8)
        #expect(assembler.take(.text, text("123456789"), fin: false) == .tooLarge)
        #expect(!assembler.isAssembling, "refused already: a new message now loses nothing more")
        #expect(assembler.take(.text, text("ok"), fin: true) == .message(text("ok"), .text))
    }
}

@Suite struct OverRateTests {
    private let second: Int64 = 1_000_000

    @Test func aBurstRefusedAllAtOnceIsNotSustained() {
        var run: (since: Int64, last: Int64)?
        for index in 0..<200 { #expect(!FrameIntake.isSustainedOverRate(&run, now: 5 * second + Int64(index) * 100)) }
    }

    @Test func refusalsGoingOnForTwoSecondsWithoutAPauseAreSustained() {
        var run: (since: Int64, last: Int64)?
        var now: Int64 = 10 * second
        while now < 10 * second + FrameIntake.sustainedOverRate {
            #expect(!FrameIntake.isSustainedOverRate(&run, now: now))
            now += FrameIntake.overRateQuiet - 1
        }
        #expect(FrameIntake.isSustainedOverRate(&run, now: now))
    }

    @Test func aClientThatWaitsASecondAfterEachRefusalStartsAnew() {
        var run: (since: Int64, last: Int64)?
        // The clients' pacing: after a refusal, nothing for 1 s, then a window of requests; the
        // broker sees a round's refusals a few ms apart and the next round a little under 1 s later.
        for round in 0..<10 {
            let start = 20 * second + Int64(round) * second
            for index in 0..<5 { #expect(!FrameIntake.isSustainedOverRate(&run, now: start + Int64(index) * 1_000)) }
        }
    }
}
