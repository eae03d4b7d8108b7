import Foundation
import Testing

@testable import brokerd

/// The `max_clients` slots, taken at the upgrade and given back when the connection closes, and
/// the limits per client address.
struct ConnectionAdmissionsTests {
    /// Stand-ins for channels: alive while they hold a slot, so their identifiers are not reused.
    private final class Connections {
        private var objects: [NSObject] = []

        func next() -> ObjectIdentifier {
            objects.append(NSObject())
            return ObjectIdentifier(objects[objects.count - 1])
        }
    }

    private static let second: Int64 = 1_000_000

    @Test func admitsUpToTheLimitAndAgainAfterARelease() {
        let admissions = ConnectionAdmissions(limit: 2)
        let connections = Connections()
        let (first, second, third) = (connections.next(), connections.next(), connections.next())
        #expect(admissions.admit(first, address: "10.0.0.1", now: 0) == nil)
        #expect(admissions.admit(second, address: nil, now: 0) == nil)
        #expect(admissions.admit(third, address: "10.0.0.2", now: 0) == .full(limit: 2))
        #expect(admissions.count == 2)
        admissions.release(first)
        #expect(admissions.admit(third, address: "10.0.0.2", now: 0) == nil)
        #expect(admissions.admit(connections.next(), address: "10.0.0.3", now: 0) == .full(limit: 2))
    }

    @Test func aReloadedLimitRefusesAboveItAndClosesNothing() {
        let admissions = ConnectionAdmissions(limit: 3)
        let connections = Connections()
        let held = (0..<3).map { _ in connections.next() }
        for holder in held { #expect(admissions.admit(holder, address: nil, now: 0) == nil) }
        admissions.setLimit(2)
        #expect(admissions.limit == 2 && admissions.count == 3)
        #expect(admissions.admit(connections.next(), address: nil, now: 0) == .full(limit: 2))
        // Under the new limit only once two are left.
        admissions.release(held[0])
        #expect(admissions.admit(connections.next(), address: nil, now: 0) == .full(limit: 2))
        admissions.release(held[1])
        #expect(admissions.admit(connections.next(), address: nil, now: 0) == nil)
        admissions.setLimit(4)
        #expect(admissions.admit(connections.next(), address: nil, now: 0) == nil)
    }

    @Test func aConnectionsSlotIsGivenBackOnceHoweverOftenItIsReleased() {
        let admissions = ConnectionAdmissions(limit: 2, perAddress: .init(maxClients: 2, connectRate: 0, connectBurst: 1))
        let connections = Connections()
        let (first, second) = (connections.next(), connections.next())
        #expect(admissions.admit(first, address: "10.0.0.1", now: 0) == nil)
        #expect(admissions.admit(second, address: "10.0.0.1", now: 0) == nil)
        // Refused for its token, then closed: one slot back, not two, for the broker and the address.
        admissions.release(first)
        admissions.release(first)
        #expect(admissions.count == 1)
        #expect(admissions.count(from: "10.0.0.1") == 1)
        admissions.release(second)
        #expect(admissions.count == 0)
        #expect(admissions.count(from: "10.0.0.1") == 0)
    }

    @Test func concurrentAdmissionsNeverPassTheLimit() async {
        let admissions = ConnectionAdmissions(limit: 50)
        let admitted = await withTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    let connections = Connections()
                    return (0..<1_000).filter { _ in admissions.admit(connections.next(), address: "10.0.0.\(task)", now: 0) == nil }.count
                }
            }
            return await group.reduce(0, +)
        }
        #expect(admitted == 50)
        #expect(admissions.count == 50)
    }

    @Test func oneAddressHoldsAtMostItsLimitWhileOthersStillGetIn() {
        let admissions = ConnectionAdmissions(limit: 100, perAddress: .init(maxClients: 2, connectRate: 0, connectBurst: 1))
        let connections = Connections()
        let held = [connections.next(), connections.next()]
        for connection in held { #expect(admissions.admit(connection, address: "203.0.113.7", now: 0) == nil) }
        #expect(admissions.admit(connections.next(), address: "203.0.113.7", now: 0) == .addressFull(address: "203.0.113.7", limit: 2))
        #expect(admissions.admit(connections.next(), address: "203.0.113.8", now: 0) == nil)
        // The refusal took no slot: one closes, the address gets in again.
        #expect(admissions.count == 3)
        admissions.release(held[0])
        #expect(admissions.admit(connections.next(), address: "203.0.113.7", now: 0) == nil)
    }

    @Test func aPerAddressLimitTurnedOnByAReloadCountsTheConnectionsAlreadyOpen() {
        let admissions = ConnectionAdmissions(limit: 100)
        let connections = Connections()
        let held = (0..<3).map { _ in connections.next() }
        for holder in held { #expect(admissions.admit(holder, address: "203.0.113.7", now: 0) == nil) }
        let other = connections.next()
        #expect(admissions.admit(other, address: "203.0.113.8", now: 0) == nil)
        #expect(admissions.count(from: "203.0.113.7") == 0, "not counted while no limit is set")

        admissions.setPerAddress(
            .init(maxClients: 2, connectRate: 0, connectBurst: 1),
            held: held.map { ($0, "203.0.113.7") } + [(other, "203.0.113.8"), (connections.next(), "203.0.113.9")])
        #expect(admissions.perAddress.maxClients == 2)
        #expect(admissions.count(from: "203.0.113.7") == 3 && admissions.count(from: "203.0.113.8") == 1)
        #expect(admissions.count(from: "203.0.113.9") == 0, "a connection holding no slot is not counted")
        #expect(admissions.admit(connections.next(), address: "203.0.113.7", now: 0) == .addressFull(address: "203.0.113.7", limit: 2))
        #expect(admissions.admit(connections.next(), address: "203.0.113.8", now: 0) == nil)
        // Over the limit until two are left, as with a lower max_clients.
        admissions.release(held[0])
        #expect(admissions.admit(connections.next(), address: "203.0.113.7", now: 0) != nil)
        admissions.release(held[1])
        #expect(admissions.admit(connections.next(), address: "203.0.113.7", now: 0) == nil)
        #expect(admissions.count(from: "203.0.113.7") == 2)

        // Off again: nothing counted, nothing refused for its address.
        admissions.setPerAddress(.none, held: [])
        #expect(admissions.count(from: "203.0.113.7") == 0)
        #expect(admissions.admit(connections.next(), address: "203.0.113.7", now: 0) == nil)
    }

    @Test func aReloadedConnectRateTakesEachAddressBucketAsItStands() {
        let admissions = ConnectionAdmissions(limit: 1_000)
        let connections = Connections()
        admissions.setPerAddress(.init(maxClients: 0, connectRate: 1, connectBurst: 2), held: [])
        for _ in 0..<2 { #expect(admissions.admit(connections.next(), address: "198.51.100.1", now: 0) == nil) }
        #expect(admissions.admit(connections.next(), address: "198.51.100.1", now: 0) != nil)
        // A faster rate refills the same empty bucket faster.
        admissions.setPerAddress(.init(maxClients: 0, connectRate: 10, connectBurst: 2), held: [])
        #expect(admissions.admit(connections.next(), address: "198.51.100.1", now: Self.second / 10) == nil)
        // No rate: no bucket, no refusal.
        admissions.setPerAddress(.none, held: [])
        #expect(admissions.trackedAddresses == 0)
        for _ in 0..<5 { #expect(admissions.admit(connections.next(), address: "198.51.100.1", now: Self.second / 10) == nil) }
    }

    @Test func aUserHoldsAtMostItsLimitAndGetsAPlaceBackWhenOneCloses() {
        let admissions = ConnectionAdmissions(limit: 100)
        let connections = Connections()
        let held = [connections.next(), connections.next()]
        for holder in held {
            #expect(admissions.admit(holder, address: nil, now: 0) == nil)
            #expect(admissions.admit(holder, user: "alice", limit: 2))
        }
        let third = connections.next()
        #expect(!admissions.admit(third, user: "alice", limit: 2))
        #expect(admissions.admit(connections.next(), user: "bob", limit: 2))
        #expect(admissions.count(ofUser: "alice") == 2)
        // A slot given back for a refused session keeps the user's place until the channel closes.
        admissions.releaseSlot(held[0])
        #expect(!admissions.admit(third, user: "alice", limit: 2))
        admissions.release(held[0])
        #expect(admissions.count(ofUser: "alice") == 1)
        #expect(admissions.admit(third, user: "alice", limit: 2))
        // Counted with no limit too, so a limit a reload turns on holds those already open.
        for _ in 0..<3 { #expect(admissions.admit(connections.next(), user: "carol", limit: 0)) }
        #expect(!admissions.admit(connections.next(), user: "carol", limit: 3))
        #expect(admissions.count(ofUser: "carol") == 3)
    }

    @Test func anAddressOpensItsBurstAtOnceThenNewConnectionsAtItsRate() {
        let admissions = ConnectionAdmissions(limit: 1_000, perAddress: .init(maxClients: 0, connectRate: 2, connectBurst: 3))
        let connections = Connections()
        let first = connections.next()
        #expect(admissions.admit(first, address: "198.51.100.1", now: 0) == nil)
        for _ in 0..<2 { #expect(admissions.admit(connections.next(), address: "198.51.100.1", now: 0) == nil) }
        #expect(
            admissions.admit(connections.next(), address: "198.51.100.1", now: 0)
                == .addressTooFast(address: "198.51.100.1", rate: 2, retryAfter: 1))
        // Another address has its own bucket.
        #expect(admissions.admit(connections.next(), address: "198.51.100.2", now: 0) == nil)
        // Half a second refills one at 2 per second; a refusal spends none.
        #expect(admissions.admit(connections.next(), address: "198.51.100.1", now: Self.second / 2) == nil)
        #expect(admissions.admit(connections.next(), address: "198.51.100.1", now: Self.second / 2) != nil)
        // Closing connections gives no new-connection tokens back: reconnecting in a loop is throttled.
        #expect(admissions.count == 5)
        admissions.release(first)
        #expect(admissions.admit(connections.next(), address: "198.51.100.1", now: Self.second / 2) != nil)
    }

    @Test func retryAfterSaysWhenTheNextConnectionIsAllowed() {
        let admissions = ConnectionAdmissions(limit: 1_000, perAddress: .init(maxClients: 0, connectRate: 0.25, connectBurst: 1))
        let connections = Connections()
        #expect(admissions.admit(connections.next(), address: "192.0.2.1", now: 0) == nil)
        // Half a token after 2 s at a quarter per second: the next one in 2 s more.
        #expect(
            admissions.admit(connections.next(), address: "192.0.2.1", now: 2 * Self.second)
                == .addressTooFast(address: "192.0.2.1", rate: 0.25, retryAfter: 2))
        #expect(admissions.admit(connections.next(), address: "192.0.2.1", now: 4 * Self.second) == nil)
    }

    @Test func connectionsOfUnknownAddressAreHeldToTheTotalOnly() {
        let admissions = ConnectionAdmissions(limit: 10, perAddress: .init(maxClients: 1, connectRate: 1, connectBurst: 1))
        let connections = Connections()
        for _ in 0..<3 { #expect(admissions.admit(connections.next(), address: nil, now: 0) == nil) }
    }

    @Test func bucketsOfAddressesThatWentQuietAreDropped() {
        let admissions = ConnectionAdmissions(limit: 10_000, perAddress: .init(maxClients: 0, connectRate: 10, connectBurst: 5))
        let connections = Connections()
        for index in 0..<2_000 {
            let admitted = admissions.admit(connections.next(), address: "10.1.\(index / 256).\(index % 256)", now: 0)
            #expect(admitted == nil)
        }
        #expect(admissions.trackedAddresses == 2_000)
        // A second later every bucket is full again (10 per second, 1 spent): the next admission drops them.
        #expect(admissions.admit(connections.next(), address: "10.2.0.1", now: Self.second) == nil)
        #expect(admissions.trackedAddresses == 1)
    }

    @Test func aConnectionRefusedForItsTokenGivesItsSlotBackAtOnceButHoldsItsAddressUntilItCloses() {
        let admissions = ConnectionAdmissions(limit: 2, perAddress: .init(maxClients: 1, connectRate: 0, connectBurst: 1))
        let connections = Connections()
        let refused = connections.next()
        #expect(admissions.admit(refused, address: "10.0.0.1", now: 0) == nil)
        admissions.releaseSlot(refused)
        #expect(admissions.count == 0)
        // Its socket is still open: the address holds its one connection.
        #expect(admissions.admit(connections.next(), address: "10.0.0.1", now: 0) == .addressFull(address: "10.0.0.1", limit: 1))
        admissions.release(refused)
        #expect(admissions.count == 0)
        #expect(admissions.admit(connections.next(), address: "10.0.0.1", now: 0) == nil)
    }

    @Test func aRateNearZeroAsksToRetryAfterADayAtMost() {
        let admissions = ConnectionAdmissions(limit: 10, perAddress: .init(maxClients: 0, connectRate: 1e-20, connectBurst: 1))
        let connections = Connections()
        #expect(admissions.admit(connections.next(), address: "10.0.0.1", now: 0) == nil)
        #expect(admissions.admit(connections.next(), address: "10.0.0.1", now: 0) == .addressTooFast(address: "10.0.0.1", rate: 1e-20, retryAfter: 86_400))
    }
}
