import Broker
import NIOCore
import NIOEmbedded
import Testing

@testable import brokerd

/// A connection's replies and its close take the fan-out's path: they never overtake what was
/// pushed to it before them (on an embedded loop, where "pending" is "tasks not yet run").
@Suite struct LiveConnectionOrderTests {
    private let strategy = Subscription(type: .strategy, target: "volume_wave")

    private func prices(_ price: Double) -> [ServerMessage.PriceEntry] {
        [ServerMessage.PriceEntry(PriceTick(code: "600519", name: "M", price: price, volume: 1, prevClose: 10, timestamp: 0))]
    }

    private func client() throws -> (EmbeddedEventLoop, LoopFanOut, LiveConnection, EmbeddedChannel) {
        let loop = EmbeddedEventLoop()
        let fanOut = LoopFanOut(eventLoop: loop)
        let (connection, channel) = try EmbeddedFanOut.connection("client_00000001", on: loop, fanOut: fanOut)
        return (loop, fanOut, connection, channel)
    }

    private var unsubscribed: ByteBuffer {
        ServerMessage.encode(ServerMessage.SubscriptionReply(
            type: "unsubscribed", subscriptionType: "strategy", target: "volume_wave", message: "取消订阅成功", seq: 2, timestamp: "t"))
    }

    @Test func aReplyGoesBehindThePricesPendingForItsConnectionAndAheadOfLaterOnes() throws {
        let (loop, fanOut, connection, channel) = try client()
        // The unsubscribe was applied after seq 1 and before seq 3 (which, in the broker, would no
        // longer reach this connection; here it does, to show it is not merged ahead of the reply).
        fanOut.push(prices(10), seq: 1, for: strategy, to: [connection])
        connection.send(unsubscribed)
        fanOut.push(prices(11), seq: 3, for: strategy, to: [connection])
        loop.run()
        #expect(try EmbeddedFanOut.outline(channel) == ["price_update 1", "unsubscribed 2", "price_update 3"])
    }

    @Test func repliesKeepTheOrderOfTheRequests() throws {
        let (loop, _, connection, channel) = try client()
        connection.send(unsubscribed)
        connection.send(ServerMessage.error("invalid_target", "bad"))
        connection.send(ServerMessage.encode(ServerMessage.Pong(timestamp: "t")))
        loop.run()
        #expect(try EmbeddedFanOut.outline(channel) == ["unsubscribed 2", "error", "pong"])
    }

    @Test func aCloseComesAfterWhatWasPushedAndSentBeforeIt() throws {
        let (loop, fanOut, connection, channel) = try client()
        fanOut.push(prices(10), seq: 1, for: strategy, to: [connection])
        connection.send(ServerMessage.error("rate_limited", "slow down"))
        connection.requestClose(.kicked)
        // Nothing reaches a closed connection.
        fanOut.push(prices(11), seq: 2, for: strategy, to: [connection])
        connection.send(ServerMessage.encode(ServerMessage.Pong(timestamp: "t")))
        loop.run()
        #expect(try EmbeddedFanOut.outline(channel) == ["price_update 1", "error", "close 1008"])
    }

    @Test func theClosesFrameGoesOutEvenWhenTheSessionsEndReachedTheLoopFirst() throws {
        let (loop, fanOut, connection, channel) = try client()
        fanOut.push(prices(10), seq: 1, for: strategy, to: [connection])
        // The session ended (`finish`, no frame) ahead of the close its reason asked for: the thread
        // that asked was held up between recording the reason and queueing the close.
        fanOut.close(connection, code: nil, reason: "")
        fanOut.close(connection, code: .policyViolation, reason: "kicked")
        fanOut.close(connection, code: .goingAway, reason: "shutdown")
        loop.run()
        #expect(try EmbeddedFanOut.outline(channel) == ["price_update 1", "close 1008"])
    }

    @Test func aSlowConsumerIsClosedAtOnceWithoutWhatWasPendingForIt() throws {
        let (loop, fanOut, connection, channel) = try client()
        fanOut.push(prices(10), seq: 1, for: strategy, to: [connection])
        connection.send(ServerMessage.error("rate_limited", "slow down"))
        connection.requestClose(.slowConsumer)
        loop.run()
        #expect(try EmbeddedFanOut.outline(channel) == ["close 1008"])
    }
}
