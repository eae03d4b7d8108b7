import Broker
import Foundation
import NIOCore
import Testing

@testable import brokerd

@Suite struct OutboxQueueTests {
    private func entry(_ code: String, _ price: Double) -> ServerMessage.PriceEntry {
        ServerMessage.PriceEntry(PriceTick(code: code, name: code, price: price, volume: 1, prevClose: 10, timestamp: 0))
    }

    private let stock = Subscription(type: .strategy, target: "volume_wave")

    private func decode(_ buffer: ByteBuffer?) throws -> [String: Any] {
        let buffer = try #require(buffer)
        return try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
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
        #expect(try ClientRequest.parse(#"{"type":"subscribe","target":"volume_wave"}"#, maxTargetLength: 64)
            == .subscribe(Subscription(type: .strategy, target: "volume_wave")))
        #expect(try ClientRequest.parse(#"{"type":"ping"}"#, maxTargetLength: 64) == .ping)
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
