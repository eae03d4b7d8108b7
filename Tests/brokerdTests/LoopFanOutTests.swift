import Broker
import Foundation
import NIOCore
import NIOEmbedded
import NIOWebSocket
import TestSupport
import Testing

@testable import brokerd

/// Price rounds for one event loop, merged while the loop is busy: on an embedded channel and loop,
/// so "busy" is exactly "tasks not yet run".
@Suite struct LoopFanOutTests {
    private let strategy = Subscription(type: .strategy, target: "volume_wave")

    private func entry(_ code: String, _ price: Double) -> ServerMessage.PriceEntry {
        ServerMessage.PriceEntry(PriceTick(code: code, name: code, price: price, volume: 1, prevClose: 10, timestamp: 0))
    }

    /// A fan-out writing 2 connections per slice to `count` clients: the loop, the fan-out, each
    /// client's connection and channel, and the connections alone.
    private func sliced(
        _ count: Int
    ) throws -> (EmbeddedEventLoop, LoopFanOut, [(LiveConnection, EmbeddedChannel)], [LiveConnection]) {
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop, sliceSize: 2)
        let clients = try (1...count).map { try EmbeddedFanOut.connection("client_0000000\($0)", on: loop, fanOut: fanOut) }
        return (loop, fanOut, clients, clients.map(\.0))
    }

    /// The price updates written to `channel`, decoded: (seq, code → price).
    private func written(_ channel: EmbeddedChannel) throws -> [(seq: Int, prices: [String: Double])] {
        try EmbeddedFanOut.messages(channel).map { message in
            #expect(message.type == "price_update")
            return (message.seq, message.prices)
        }
    }

    /// A fan-out whose connections negotiated permessage-deflate writes price updates and longer
    /// messages compressed (RSV1, a deflate stream of their own) and short ones plain.
    @Test func aCompressingFanOutDeflatesPricesAndLongMessagesOnce() throws {
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop, compression: true)
        #expect(fanOut.compresses)
        let clients = try (1...2).map { try EmbeddedFanOut.connection("client_0000000\($0)", on: loop, fanOut: fanOut) }
        let connections = clients.map(\.0)
        fanOut.push((0..<20).map { entry(String(600_000 + $0), 10) }, seq: 1, for: strategy, to: connections)
        fanOut.push(message: ByteBuffer(string: #"{"type":"pong"}"#), type: "reply", to: [connections[0]])
        let news = #"{"type":"news_update","seq":2,"data":{"title":""# + String(repeating: "涨停 ", count: 40) + #""}}"#
        fanOut.push(message: ByteBuffer(string: news), type: "news_update", to: connections)
        loop.run()
        var frames: [[ByteBuffer]] = []
        for (_, channel) in clients {
            var written: [ByteBuffer] = []
            while let frame = try channel.readOutbound(as: ByteBuffer.self) { written.append(frame) }
            frames.append(written)
        }
        #expect(frames.map(\.count) == [3, 2])
        // Encoded once: every connection got the very same bytes.
        #expect(frames[0][0] == frames[1][0] && frames[0][2] == frames[1][1])
        let (priceFirst, pricePayload) = try PerMessageDeflateTests.split(frames[0][0])
        #expect(priceFirst == 0xC1)
        let update = try JSONSerialization.jsonObject(with: Data(PerMessageDeflate.inflate(pricePayload, maxBytes: 1 << 16).readableBytesView))
        #expect((update as? [String: Any])?["count"] as? Int == 20)
        let (pongFirst, pongPayload) = try PerMessageDeflateTests.split(frames[0][1])
        #expect(pongFirst == 0x81, "short: plain")
        #expect(String(buffer: pongPayload) == #"{"type":"pong"}"#)
        let (newsFirst, newsPayload) = try PerMessageDeflateTests.split(frames[0][2])
        #expect(newsFirst == 0xC1)
        #expect(String(buffer: try PerMessageDeflate.inflate(newsPayload, maxBytes: 1 << 16)) == news)
    }

    @Test func pushesWhileTheLoopIsBusyGoOutAsOneRoundLatestPerCode() throws {
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop)
        let (first, firstChannel) = try EmbeddedFanOut.connection("client_00000001", on: loop, fanOut: fanOut)
        let (second, secondChannel) = try EmbeddedFanOut.connection("client_00000002", on: loop, fanOut: fanOut)

        fanOut.push([entry("600519", 10), entry("000001", 5)], seq: 1, for: strategy, to: [first])
        fanOut.push([entry("600519", 11)], seq: 2, for: strategy, to: [first, second])
        loop.run()

        // One message each: the latest price per code, the last seq, to the latest recipients.
        for channel in [firstChannel, secondChannel] {
            let updates = try written(channel)
            #expect(updates.count == 1)
            #expect(updates.first?.seq == 2)
            #expect(updates.first?.prices == ["600519": 11, "000001": 5])
        }

        // Once flushed, the next push starts a new round.
        fanOut.push([entry("000001", 6)], seq: 3, for: strategy, to: [first])
        loop.run()
        let next = try written(firstChannel)
        #expect(next.map(\.seq) == [3])
        #expect(next.first?.prices == ["000001": 6])
        #expect(try written(secondChannel).isEmpty)
    }

    @Test func roundsOfDifferentSubscriptionsStayApart() throws {
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop)
        let (client, channel) = try EmbeddedFanOut.connection("client_00000001", on: loop, fanOut: fanOut)
        let stock = Subscription(type: .stock, target: "600519")
        fanOut.push([entry("600519", 10), entry("000001", 5)], seq: 1, for: strategy, to: [client])
        fanOut.push([entry("600519", 11)], seq: 2, for: stock, to: [client])
        loop.run()
        let updates = try written(channel)
        #expect(updates.map(\.seq) == [1, 2], "in the order the subscriptions' first pushes came")
        #expect(updates.map(\.prices) == [["600519": 10, "000001": 5], ["600519": 11]])
    }

    /// The type and seq of every message written to `channel`.
    private func sequence(_ channel: EmbeddedChannel) throws -> [String] {
        try EmbeddedFanOut.messages(channel).map { "\($0.type) \($0.seq)" }
    }

    @Test func aMessageSealsThePendingRoundAndLaterPricesGoBehindIt() throws {
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop)
        let (client, channel) = try EmbeddedFanOut.connection("client_00000001", on: loop, fanOut: fanOut)
        let news = ServerMessage.encode(ServerMessage.Envelope(type: "news_update", data: ["title": "x"], seq: 2, subscription: nil))

        // All three arrive while the loop is busy: the message must not overtake seq 1, and seq 3
        // must not be merged into the round ahead of it.
        fanOut.push([entry("600519", 10)], seq: 1, for: strategy, to: [client])
        fanOut.push(message: news, type: "news_update", to: [client])
        fanOut.push([entry("600519", 11)], seq: 3, for: strategy, to: [client])
        loop.run()

        #expect(try sequence(channel) == ["price_update 1", "news_update 2", "price_update 3"])
    }

    @Test func aMessageToOtherClientsLeavesTheRoundOpenAndSealsOnlyWhatItsRecipientsGet() throws {
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop)
        let (first, firstChannel) = try EmbeddedFanOut.connection("client_00000001", on: loop, fanOut: fanOut)
        let (second, secondChannel) = try EmbeddedFanOut.connection("client_00000002", on: loop, fanOut: fanOut)
        let stock = Subscription(type: .stock, target: "600519")
        func bar(_ seq: UInt64) -> ByteBuffer {
            ServerMessage.encode(ServerMessage.Envelope(type: "kline_update", data: ["code": "600519"], seq: seq, subscription: stock))
        }

        // A message only the second client gets: the first client's round stays open and merges.
        fanOut.push([entry("000001", 5)], seq: 1, for: strategy, to: [first])
        fanOut.push(message: bar(2), type: "kline_update", to: [second])
        fanOut.push([entry("000001", 6)], seq: 3, for: strategy, to: [first])
        loop.run()
        #expect(try sequence(firstChannel) == ["price_update 3"])
        #expect(try sequence(secondChannel) == ["kline_update 2"])

        // A message to the second client seals the round it is in, and the older round before it.
        fanOut.push([entry("000001", 7)], seq: 4, for: strategy, to: [first])
        fanOut.push([entry("600519", 8)], seq: 5, for: stock, to: [first, second])
        fanOut.push(message: bar(6), type: "kline_update", to: [second])
        fanOut.push([entry("000001", 9)], seq: 7, for: strategy, to: [first])
        loop.run()
        #expect(try sequence(firstChannel) == ["price_update 4", "price_update 5", "price_update 7"])
        #expect(try sequence(secondChannel) == ["price_update 5", "kline_update 6"])
    }

    @Test func pricesArrivingDuringARoundJoinItForTheConnectionsItHasNotReached() throws {
        let (loop, fanOut, clients, connections) = try sliced(5)

        // The second push reaches the loop after the round's first slice (two connections) is written.
        fanOut.push([entry("600519", 10)], seq: 1, for: strategy, to: connections)
        loop.execute { fanOut.push([entry("600519", 11), entry("000001", 5)], seq: 2, for: self.strategy, to: connections) }
        loop.run()

        let updates = try clients.map { try written($0.1) }
        for reached in updates[..<2] {
            #expect(reached.map(\.seq) == [1, 2], "already written: the next round brings the new prices")
            #expect(reached.last?.prices == ["600519": 11, "000001": 5])
        }
        for unreached in updates[2...] {
            #expect(unreached.map(\.seq) == [2], "not reached yet: one message with both pushes")
            #expect(unreached.first?.prices == ["600519": 11, "000001": 5])
        }
    }

    @Test func connectionsThatGotPricesByJoiningDoNotGetThemAgain() throws {
        let (loop, fanOut, clients, connections) = try sliced(5)

        // Seq 2 joins the round of seq 1 after its first slice; seq 3 comes after that join.
        fanOut.push([entry("600519", 10)], seq: 1, for: strategy, to: connections)
        loop.execute { fanOut.push([entry("600519", 11)], seq: 2, for: self.strategy, to: connections) }
        loop.execute {
            loop.execute {
                loop.execute { fanOut.push([entry("000001", 6)], seq: 3, for: self.strategy, to: connections) }
            }
        }
        loop.run()

        let updates = try clients.map { try written($0.1) }
        for reached in updates[..<2] {
            #expect(reached.map(\.seq) == [1, 3])
            #expect(reached.last?.prices == ["600519": 11, "000001": 6], "seq 2 is still owed to them")
        }
        for joined in updates[2...] {
            #expect(joined.map(\.seq) == [2, 3])
            #expect(joined.last?.prices == ["000001": 6], "seq 2's price came with the joined round")
        }
        #expect(updates.allSatisfy { $0.last?.seq == 3 })
    }

    /// Pushes and messages reach the loop between random slices: every connection gets each code's
    /// prices newest-last without repeats, and seqs in order; with the same subscribers throughout
    /// (seeds up to 8) each ends with the latest price of every code, with subscribers leaving and
    /// coming back (seeds from 9) with no price older than one it had. Some messages go to all,
    /// some to one client (a reply), and the loop's time moves on at random between pushes: with a
    /// price interval, replies take their client's prices out of the waiting rounds, messages to
    /// all seal them, and the interval passes now and then.
    @Test(arguments: [TimeAmount.zero, .milliseconds(10)], 1...12 as ClosedRange<UInt64>)
    func randomInterleavingsNeverRepeatOrReorderPrices(priceInterval: TimeAmount, seed: UInt64) throws {
        let subscribersChange = seed > 8
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop, sliceSize: 2, priceInterval: priceInterval)
        let clients = try (1...7).map { try EmbeddedFanOut.connection("client_0000000\($0)", on: loop, fanOut: fanOut) }
        let connections = clients.map(\.0)
        let codes = ["600519", "000001", "300750"]
        var random = SeededGenerator(seed: seed)
        final class Counter: @unchecked Sendable { var seq = 0; var latest: [String: Double] = [:] }
        let counter = Counter()

        func nested(_ depth: Int, _ body: @escaping @Sendable () -> Void) {
            if depth == 0 { body() } else { loop.execute { nested(depth - 1, body) } }
        }
        for _ in 0..<80 {
            let code = codes.randomElement(using: &random)!
            let kind = Int.random(in: 0..<10, using: &random)
            var recipients = connections
            if subscribersChange, Bool.random(using: &random) { recipients.remove(at: Int.random(in: 0..<recipients.count, using: &random)) }
            if kind == 0 { recipients = [recipients.randomElement(using: &random)!] }
            let to = recipients
            nested(Int.random(in: 0...6, using: &random)) {
                counter.seq += 1
                if kind <= 1 {
                    let frame = ServerMessage.encode(
                            ServerMessage.Envelope(type: "news_update", data: ["title": "x"], seq: UInt64(counter.seq), subscription: nil))
                    fanOut.push(message: frame, type: "news_update", to: to)
                } else {
                    counter.latest[code] = Double(counter.seq)
                    fanOut.push([self.entry(code, Double(counter.seq))], seq: UInt64(counter.seq), for: self.strategy, to: to)
                }
            }
            if Int.random(in: 0..<4, using: &random) == 0 {
                loop.advanceTime(by: .milliseconds(Int64.random(in: 0...15, using: &random)))
            }
        }
        loop.run()
        loop.advanceTime(by: .milliseconds(100))

        for (_, channel) in clients {
            let received = try EmbeddedFanOut.messages(channel)
            #expect(zip(received, received.dropFirst()).allSatisfy { $0.seq < $1.seq }, "seqs in order")
            var latest: [String: Double] = [:]
            for message in received {
                for (code, price) in message.prices {
                    #expect(price > latest[code] ?? 0, "\(code) at \(price) after \(latest[code] ?? 0)")
                    latest[code] = price
                }
            }
            if !subscribersChange { #expect(latest == counter.latest) }
        }
    }

    @Test func pricesDoNotJoinARoundAMessageIsQueuedBehind() throws {
        let (loop, fanOut, clients, connections) = try sliced(5)
        let news = ServerMessage.encode(ServerMessage.Envelope(type: "news_update", data: ["title": "x"], seq: 2, subscription: nil))

        fanOut.push([entry("600519", 10)], seq: 1, for: strategy, to: connections)
        loop.execute {
            fanOut.push(message: news, type: "news_update", to: connections)
            fanOut.push([entry("600519", 11)], seq: 3, for: self.strategy, to: connections)
        }
        loop.run()

        for (_, channel) in clients {
            #expect(try sequence(channel) == ["price_update 1", "news_update 2", "price_update 3"])
        }
    }

    // MARK: A price interval

    /// A fan-out on an embedded loop that seals price rounds at most every 100 ms of the loop's
    /// (virtual) time, and one client.
    private func paced() throws -> (EmbeddedEventLoop, LoopFanOut, LiveConnection, EmbeddedChannel) {
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop, priceInterval: .milliseconds(100))
        let (client, channel) = try EmbeddedFanOut.connection("client_00000001", on: loop, fanOut: fanOut)
        return (loop, fanOut, client, channel)
    }

    /// Pushes 600519 at 10 (seq 1), which goes out, then at 11 (seq 2), which waits for the interval.
    private func oneSentOneWaiting(_ loop: EmbeddedEventLoop, _ fanOut: LoopFanOut, _ clients: [LiveConnection]) {
        fanOut.push([entry("600519", 10)], seq: 1, for: strategy, to: clients)
        loop.run()
        fanOut.push([entry("600519", 11)], seq: 2, for: strategy, to: clients)
        loop.run()
    }

    @Test func withAPriceIntervalPricesWithinItGoOutMergedOnceItHasPassed() throws {
        let (loop, fanOut, client, channel) = try paced()

        // The first goes out at once: nothing was sealed before it.
        fanOut.push([entry("600519", 10)], seq: 1, for: strategy, to: [client])
        loop.run()
        #expect(try written(channel).map(\.seq) == [1])

        // Two more within the interval, each with the loop free: they wait, merged.
        fanOut.push([entry("600519", 11), entry("000001", 5)], seq: 2, for: strategy, to: [client])
        loop.run()
        fanOut.push([entry("600519", 12)], seq: 3, for: strategy, to: [client])
        loop.run()
        loop.advanceTime(by: .milliseconds(99))
        #expect(try written(channel).isEmpty, "nothing before the interval has passed")

        loop.advanceTime(by: .milliseconds(1))
        let merged = try written(channel)
        #expect(merged.map(\.seq) == [3])
        #expect(merged.first?.prices == ["600519": 12, "000001": 5])
    }

    @Test func withAPriceIntervalAPriceAfterAQuietIntervalGoesOutAtOnce() throws {
        let (loop, fanOut, client, channel) = try paced()
        fanOut.push([entry("600519", 10)], seq: 1, for: strategy, to: [client])
        loop.run()
        loop.advanceTime(by: .milliseconds(150))

        fanOut.push([entry("600519", 11)], seq: 2, for: strategy, to: [client])
        loop.run()
        #expect(try written(channel).map(\.seq) == [1, 2])
    }

    /// A reloaded `price_interval` reaches a fan-out that is running: a writer waiting for the old
    /// interval looks again, and the seals after it keep the new one.
    @Test func aChangedPriceIntervalTakesEffectForTheRoundWaitingAndTheNextSeals() throws {
        let (loop, fanOut, client, channel) = try paced()
        oneSentOneWaiting(loop, fanOut, [client])
        #expect(try written(channel).map(\.seq) == [1])

        // Longer: the waiting round waits for the rest of the new interval, not the old one.
        fanOut.setPriceInterval(.milliseconds(300))
        loop.run()
        #expect(fanOut.priceInterval == .milliseconds(300))
        loop.advanceTime(by: .milliseconds(299))
        #expect(try written(channel).isEmpty, "the old 100 ms passed long ago, the new 300 ms not yet")
        loop.advanceTime(by: .milliseconds(1))
        #expect(try written(channel).map(\.seq) == [2])

        // Shorter, with a round waiting: it goes out once the new interval has passed since the seal.
        fanOut.push([entry("600519", 12)], seq: 3, for: strategy, to: [client])
        loop.run()
        loop.advanceTime(by: .milliseconds(50))
        #expect(try written(channel).isEmpty)
        fanOut.setPriceInterval(.milliseconds(40))
        loop.run()
        #expect(try written(channel).map(\.seq) == [3], "40 ms have passed since the last seal")

        // None: every price goes out at once, however soon after the last.
        fanOut.setPriceInterval(.zero)
        for seq in 4...5 {
            fanOut.push([entry("600519", Double(seq + 10))], seq: UInt64(seq), for: strategy, to: [client])
            loop.run()
        }
        #expect(try written(channel).map(\.seq) == [4, 5])

        // And back: a price within the new interval of the last seal (seq 5's) waits for it.
        fanOut.setPriceInterval(.milliseconds(100))
        fanOut.push([entry("600519", 16)], seq: 6, for: strategy, to: [client])
        loop.run()
        loop.advanceTime(by: .milliseconds(99))
        #expect(try written(channel).isEmpty)
        loop.advanceTime(by: .milliseconds(1))
        #expect(try written(channel).map(\.seq) == [6])
    }

    @Test func withAPriceIntervalAMessageDoesNotWaitAndThePricesBeforeItGoFirst() throws {
        let (loop, fanOut, client, channel) = try paced()
        let news = ServerMessage.encode(ServerMessage.Envelope(type: "news_update", data: ["title": "x"], seq: 3, subscription: nil))
        oneSentOneWaiting(loop, fanOut, [client])

        // The news item goes out now, behind the price that was waiting for the interval.
        fanOut.push(message: news, type: "news_update", to: [client])
        loop.run()
        #expect(try sequence(channel) == ["price_update 1", "price_update 2", "news_update 3"])

        // A price after it waits for the interval since the last seal of the writer's own.
        fanOut.push([entry("600519", 12)], seq: 4, for: strategy, to: [client])
        loop.run()
        #expect(try sequence(channel).isEmpty)
        loop.advanceTime(by: .milliseconds(100))
        #expect(try sequence(channel) == ["price_update 4"])
    }

    @Test func withAPriceIntervalAReplyTakesOnlyItsConnectionsPricesOutOfTheWaitingRound() throws {
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop, priceInterval: .milliseconds(100))
        let (first, firstChannel) = try EmbeddedFanOut.connection("client_00000001", on: loop, fanOut: fanOut)
        let (second, secondChannel) = try EmbeddedFanOut.connection("client_00000002", on: loop, fanOut: fanOut)
        let pong = ByteBuffer(string: #"{"type":"pong"}"#)
        oneSentOneWaiting(loop, fanOut, [first, second])

        // The reply to the first client brings it the waiting price first; the second waits on.
        fanOut.push(message: pong, type: "pong", to: [first])
        loop.run()
        #expect(try EmbeddedFanOut.outline(firstChannel) == ["price_update 1", "price_update 2", "pong"])
        #expect(try EmbeddedFanOut.outline(secondChannel) == ["price_update 1"])

        // At the interval the second gets it, and the first nothing again; then both the next one.
        fanOut.push([entry("000001", 5)], seq: 3, for: strategy, to: [first, second])
        loop.run()
        loop.advanceTime(by: .milliseconds(100))
        let firstNext = try written(firstChannel)
        let secondNext = try written(secondChannel)
        #expect(firstNext.map(\.seq) == [3])
        #expect(firstNext.first?.prices == ["000001": 5])
        #expect(secondNext.map(\.seq) == [3])
        #expect(secondNext.first?.prices == ["600519": 11, "000001": 5])
    }

    @Test func withAPriceIntervalASealThatFoundNothingToSendDoesNotCount() throws {
        let (loop, fanOut, client, channel) = try paced()
        let pong = ByteBuffer(string: #"{"type":"pong"}"#)
        oneSentOneWaiting(loop, fanOut, [client])
        // The reply takes the waiting price out; at the interval there is nothing left to send.
        fanOut.push(message: pong, type: "pong", to: [client])
        loop.run()
        loop.advanceTime(by: .milliseconds(100))
        #expect(try EmbeddedFanOut.outline(channel) == ["price_update 1", "price_update 2", "pong"])

        // So the last seal is still the first one, an interval ago: the next price goes at once.
        fanOut.push([entry("600519", 12)], seq: 3, for: strategy, to: [client])
        loop.run()
        #expect(try written(channel).map(\.seq) == [3])
    }

    @Test func withAPriceIntervalEveryConnectionStillGetsEveryCodeOnce() throws {
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop, sliceSize: 2, priceInterval: .milliseconds(100))
        let clients = try (1...5).map { try EmbeddedFanOut.connection("client_0000000\($0)", on: loop, fanOut: fanOut) }
        let connections = clients.map(\.0)

        // Prices arrive between the slices of the first round: they join it for the connections
        // it has not reached, and the others get them after the interval.
        fanOut.push([entry("600519", 10)], seq: 1, for: strategy, to: connections)
        loop.execute { fanOut.push([entry("000001", 5)], seq: 2, for: self.strategy, to: connections) }
        loop.run()
        loop.advanceTime(by: .milliseconds(100))

        for (_, channel) in clients {
            let updates = try written(channel)
            var latest: [String: Double] = [:]
            for update in updates { latest.merge(update.prices) { $1 } }
            #expect(latest == ["600519": 10, "000001": 5])
            #expect(updates.count <= 2)
            #expect(updates.last?.seq == 2)
        }
    }
}
