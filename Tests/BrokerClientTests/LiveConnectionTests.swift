import Testing

@testable import BrokerClient

/// What one connection attempt reports to the reconnect loop, which ends the attempt at the first
/// `ended` it reads.
@Suite struct LiveConnectionTests {
    private func reports(_ connection: LiveConnection) async -> [String] {
        connection.close()
        var seen: [String] = []
        for await event in connection.events {
            switch event {
            case .opened: seen.append("opened")
            case .ended(let loss): seen.append("ended: \(loss)")
            }
        }
        return seen
    }

    /// The timer fired after the session opened but before the loop had read `.opened` and
    /// stopped it: the session must live on.
    @Test func aConnectTimeoutAfterTheSessionOpenedEndsNothing() async {
        let connection = LiveConnection(pingInterval: .seconds(30), pongTimeout: .seconds(10))
        connection.reportOpened()
        connection.reportConnectTimedOut()
        #expect(await reports(connection) == ["opened"])
    }

    @Test func aConnectTimeoutBeforeTheSessionOpenedEndsTheAttempt() async {
        let connection = LiveConnection(pingInterval: .seconds(30), pongTimeout: .seconds(10))
        connection.reportConnectTimedOut()
        #expect(await reports(connection) == ["ended: \(ConnectionLoss.connectTimedOut)"])
    }
}
