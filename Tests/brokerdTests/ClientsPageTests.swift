import Foundation
import HummingbirdCore
import Testing

@testable import brokerd

/// What `GET /api/websocket/clients` makes of the rows it gathered: a page of them, each with its
/// subscriptions listed or counted.
struct ClientsPageTests {
    /// A row as a node of an earlier build sends it: its subscriptions listed, no count.
    private func olderNodesRow(_ id: String, subscriptions: Int) throws -> ClientRow {
        let targets = (0..<subscriptions).map { #"{"type":"stock","target":"60000\#($0)"}"# }.joined(separator: ",")
        let json = #"""
            {"client_id":"\#(id)","node":"node-old","connected_at":"2026-12-07T00:00:00.000000Z","subscriptions":[\#(targets)],
            "messages_in":1,"messages_out":2,"queue_depth":0,"price_interval":0,"compression":false}
            """#
        return try JSONDecoder().decode(ClientRow.self, from: Data(json.utf8))
    }

    @Test func rowsThatListTheirSubscriptionsAreCountedWhenCountsAreAskedFor() throws {
        let body = ClientsBody(
            count: 2, clients: [try olderNodesRow("client_0000000a", subscriptions: 3), try olderNodesRow("client_0000000b", subscriptions: 0)])
        #expect(body.clients.map(\.subscriptionCount) == [nil, nil], "an earlier build sends no count")
        let counted = try ClientsBody.Page(URI("/api/websocket/clients?subscriptions=count")).of(body)
        #expect(counted.clients.map(\.subscriptionCount) == [3, 0] && counted.clients.allSatisfy { $0.subscriptions == nil })
        #expect(counted.offset == nil && counted.limit == nil, "no page asked for, none named")
        let listed = try ClientsBody.Page(URI("/api/websocket/clients?limit=1")).of(body)
        #expect(listed.clients.count == 1 && listed.clients.first?.subscriptions?.count == 3 && listed.clients.first?.subscriptionCount == 3)
        let whole = try ClientsBody.Page(URI("/api/websocket/clients")).of(body)
        #expect(whole.clients.map(\.subscriptionCount) == [3, 0] && whole.clients.map { $0.subscriptions?.count } == [3, 0], "listed and counted")
        let both = try ClientsBody.Page(URI("/api/websocket/clients?offset=1&subscriptions=count")).of(body)
        #expect(both.clients.map(\.clientID) == ["client_0000000b"] && both.clients.first?.subscriptionCount == 0 && both.offset == 1)
    }

    @Test(arguments: ["none", "all", "", "COUNT"])
    func anUnknownSubscriptionsValueIsRefused(_ value: String) {
        #expect(throws: APIError.self) { try ClientsBody.Page(URI("/api/websocket/clients?subscriptions=\(value)")) }
    }
}
