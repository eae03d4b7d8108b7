import Foundation
import Testing

@testable import brokerd

/// The `max_clients` slots: taken at the upgrade, given back when the connection closes.
struct ConnectionAdmissionsTests {
    @Test func admitsUpToTheLimitAndAgainAfterARelease() {
        let admissions = ConnectionAdmissions(limit: 2)
        #expect(admissions.admit())
        #expect(admissions.admit())
        #expect(!admissions.admit())
        #expect(admissions.count == 2)
        admissions.release()
        #expect(admissions.admit())
        #expect(!admissions.admit())
    }

    @Test func aConnectionsSlotIsGivenBackOnceHoweverOftenItIsReleased() {
        let admissions = ConnectionAdmissions(limit: 2)
        // Connections stay alive while they hold a slot: identifiers are not reused meanwhile.
        let connections = [NSObject(), NSObject(), NSObject()]
        let (first, second, third) = (ObjectIdentifier(connections[0]), ObjectIdentifier(connections[1]), ObjectIdentifier(connections[2]))
        #expect(admissions.admit(first))
        #expect(admissions.admit(second))
        #expect(!admissions.admit(third))
        // Refused for its token, then closed: one slot back, not two.
        admissions.release(first)
        admissions.release(first)
        #expect(admissions.count == 1)
        admissions.release(second)
        #expect(admissions.count == 0)
    }

    @Test func concurrentAdmissionsNeverPassTheLimit() async {
        let admissions = ConnectionAdmissions(limit: 50)
        let admitted = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<1_000).filter { _ in admissions.admit() }.count }
            }
            return await group.reduce(0, +)
        }
        #expect(admitted == 50)
        #expect(admissions.count == 50)
    }
}
