import Broker
import Foundation
import NIOCore
import Testing

@testable import brokerd

/// A `market` subscriber's snapshot prepared off the store: on the store it must be what the
/// projection there would give, or nothing (then the store makes it, as before).
struct BoardSnapshotTests {
    private static let board = Subscription(type: .market, target: "sh")

    private static func tick(_ code: String, _ price: Double, name: String = "") -> Event {
        .priceTicked(PriceTick(code: code, name: name, price: price, volume: 100, prevClose: 10, timestamp: 1_795_442_400_000_000))
    }

    private static func projection(_ events: [Event], onto start: Projection = Projection()) -> Projection {
        var projection = start
        for event in events { projection.apply(RecordedEvent(seq: projection.lastSeq + 1, timestamp: 0, event: event)) }
        return projection
    }

    /// The market of ten Shanghai codes and one Shenzhen code; 600001's name only from a signal list.
    private static let market = projection(
        (0..<10).map { tick(String(format: "6%05d", $0), 10 + Double($0), name: $0 == 1 ? "" : "S\($0)") }
            + [tick("000001", 12.3, name: "平安银行"), .signalsReplaced(SignalsReplaced(strategy: "w", signals: [Signal(code: "600001", name: "浦发银行")]))])

    /// The update as JSON, its time left out (each is stamped when it is written).
    private static func json(_ frame: ByteBuffer) throws -> NSDictionary {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(frame.readableBytesView)) as? [String: Any])
        return object.filter { $0.key != "timestamp" } as NSDictionary
    }

    /// What the store made of the projection before: the known prices, encoded.
    private static func direct(_ projection: Projection) -> ByteBuffer {
        let entries = projection.knownPrices(for: board).map(ServerMessage.PriceEntry.init)
        return ServerMessage.encode(ServerMessage.PriceUpdate(entries: entries, seq: projection.lastSeq, subscription: board))
    }

    @Test func preparedAndUnchangedItIsWhatTheProjectionGives() throws {
        let snapshot = try #require(BoardSnapshot(Self.board, lastPrices: Self.market.lastPrices, strategies: Self.market.strategies))
        let (frame, count) = try #require(snapshot.priceUpdate(at: Self.market))
        #expect(count == 10)
        #expect(try Self.json(frame) == Self.json(Self.direct(Self.market)))
        let names = (try Self.json(frame)["data"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names?.prefix(2) == ["S0", "浦发银行"], "named by the signal list, as the store names it")
    }

    @Test func aTickSinceItWasPreparedIsInIt() throws {
        let snapshot = try #require(BoardSnapshot(Self.board, lastPrices: Self.market.lastPrices, strategies: Self.market.strategies))
        let later = Self.projection([Self.tick("600003", 99.5, name: "S3"), Self.tick("000001", 13)], onto: Self.market)
        let (frame, _) = try #require(snapshot.priceUpdate(at: later))
        #expect(try Self.json(frame) == Self.json(Self.direct(later)))
        #expect((try Self.json(frame)["seq"] as? Int).map(UInt64.init) == later.lastSeq)
        let prices = (try Self.json(frame)["data"] as? [[String: Any]])?.compactMap { $0["price"] as? Double }
        #expect(prices?[3] == 99.5)
    }

    @Test func aNewCodeOnTheBoardOrANewSignalListLeavesItToTheStore() throws {
        let snapshot = try #require(BoardSnapshot(Self.board, lastPrices: Self.market.lastPrices, strategies: Self.market.strategies))
        #expect(snapshot.priceUpdate(at: Self.projection([Self.tick("600099", 5)], onto: Self.market)) == nil)
        let renamed = Self.projection(
            [.signalsReplaced(SignalsReplaced(strategy: "w", signals: [Signal(code: "600001", name: "浦发")]))], onto: Self.market)
        #expect(snapshot.priceUpdate(at: renamed) == nil)
        #expect(BoardSnapshot(Subscription(type: .stock, target: "600000"), lastPrices: Self.market.lastPrices, strategies: Self.market.strategies) == nil)
        let infinite = Self.projection([Self.tick("600005", .infinity)], onto: Self.market)
        #expect(BoardSnapshot(Self.board, lastPrices: infinite.lastPrices, strategies: infinite.strategies) == nil, "JSONEncoder's path for what it refuses")
    }

    @Test func aSnapshotFollowingAnEarlierOneIsWhatAScanGives() throws {
        let earlier = try #require(BoardSnapshot(Self.board, lastPrices: Self.market.lastPrices, strategies: Self.market.strategies, seq: Self.market.lastSeq))
        let later = Self.projection([Self.tick("600003", 99.5, name: "S3"), Self.tick("600001", 11.5)], onto: Self.market)
        let followed = try #require(earlier.following(later.lastPrices, strategies: later.strategies, seq: later.lastSeq))
        let scanned = try #require(BoardSnapshot(Self.board, lastPrices: later.lastPrices, strategies: later.strategies, seq: later.lastSeq))
        let (followedFrame, _) = try #require(followed.priceUpdate(at: later))
        let (scannedFrame, _) = try #require(scanned.priceUpdate(at: later))
        #expect(try Self.json(followedFrame) == Self.json(scannedFrame))
        #expect(try Self.json(followedFrame) == Self.json(Self.direct(later)))
        let names = (try Self.json(followedFrame)["data"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(names?[1] == "浦发银行", "a changed tick without a name is named by the signal list again")
        #expect(earlier.following(Self.projection([Self.tick("600099", 5)], onto: later).lastPrices, strategies: later.strategies, seq: 99) == nil)
    }

    @Test func theSubscribersOfAMomentShareOneScanOfTheBoard() throws {
        let boards = BoardSnapshots()
        let stock = Subscription(type: .stock, target: "600000")
        let first = boards.snapshots(of: [Self.board, stock], lastPrices: Self.market.lastPrices, strategies: Self.market.strategies, seq: Self.market.lastSeq)
        #expect(first.keys.sorted() == [Self.board])
        let later = Self.projection([Self.tick("600004", 77)], onto: Self.market)
        let second = try #require(
            boards.snapshots(of: [Self.board], lastPrices: later.lastPrices, strategies: later.strategies, seq: later.lastSeq)[Self.board])
        #expect(boards.scans == 1, "the second subscriber's snapshot followed the first's")
        let (frame, _) = try #require(second.priceUpdate(at: later))
        #expect(try Self.json(frame) == Self.json(Self.direct(later)))

        let grown = Self.projection([Self.tick("600050", 3)], onto: later)
        let third = try #require(
            boards.snapshots(of: [Self.board], lastPrices: grown.lastPrices, strategies: grown.strategies, seq: grown.lastSeq)[Self.board])
        #expect(boards.scans == 2, "a board that gained a code is scanned again")
        let (grownFrame, count) = try #require(third.priceUpdate(at: grown))
        #expect(count == 11)
        #expect(try Self.json(grownFrame) == Self.json(Self.direct(grown)))
    }
}
