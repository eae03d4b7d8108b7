import Broker
import Testing

@testable import Publishers

/// The pure pieces of the Redis source: URL parsing, payload decoding, backoff.
@Suite struct RedisValueTests {
    @Test(arguments: [
        ("redis://localhost", RedisURL(host: "localhost")),
        ("redis://10.0.0.5:6380", RedisURL(host: "10.0.0.5", port: 6380)),
        ("redis://cache:6380/3", RedisURL(host: "cache", port: 6380, database: 3)),
        ("redis://:s3cret@cache/1", RedisURL(host: "cache", database: 1, password: "s3cret")),
        ("redis://[::1]:7000", RedisURL(host: "::1", port: 7000)),
        // Percent-encoded, as RFC 3986 has it.
        ("redis://:p%40ss%2Fw%3Frd%23%25@cache/2", RedisURL(host: "cache", database: 2, password: "p@ss/w?rd#%")),
        ("redis://ali%3Ace:s3cret@cache", RedisURL(host: "cache", user: "ali:ce", password: "s3cret")),
        ("redis://:%E5%AF%86%E7%A0%81@cache", RedisURL(host: "cache", password: "密码")),
        // Or as they are: the userinfo runs to the last @.
        ("redis://:a/b?c#d@e@cache:6380/1", RedisURL(host: "cache", port: 6380, database: 1, password: "a/b?c#d@e")),
    ])
    func aRedisURLParses(text: String, expected: RedisURL) throws {
        #expect(try RedisURL(parsing: text) == expected)
    }

    @Test(arguments: [
        "http://localhost", "redis://", "redis://host:0", "redis://host:port", "redis://host/db", "redis://host/-1",
        "redis://host/0?timeout=1", "redis://host#x",
    ])
    func aBadRedisURLIsRefusedWithAReason(text: String) {
        #expect(throws: RedisError.self) { try RedisURL(parsing: text) }
    }

    @Test(arguments: [
        ("channel", "node-a", "brokerd:node-a:channel"),
        ("control", nil, "brokerd:control"),
        // Redis refuses spaces, control characters and anything beyond ASCII in a name.
        ("log", "交易 a\n1", "brokerd:___a_1:log"),
        ("publish", String(repeating: "n", count: 80), "brokerd:" + String(repeating: "n", count: 64) + ":publish"),
    ] as [(String, String?, String)])
    func aConnectionIsNamedForItsNodeAndRoleInWhatRedisTakes(role: String, node: String?, expected: String) {
        #expect(RedisConnection.clientName(role, node: node) == expected)
    }

    @Test func theURLDescriptionHidesThePassword() throws {
        #expect(try RedisURL(parsing: "redis://:s3cret@cache").description == "redis://:***@cache:6379/0")
        #expect(try RedisURL(parsing: "redis://alice:p%2Fw@cache").description == "redis://alice:***@cache:6379/0")
    }

    @Test(arguments: ["redis://:50%zz@cache", "redis://:100%@cache", "redis://alice%4:pw@cache", "redis://:%FF%FE@cache"])
    func aMalformedPercentEscapeIsRefusedWithoutShowingThePassword(text: String) {
        let userInfo = text.dropFirst("redis://".count).prefix { $0 != "@" }
        #expect {
            try RedisURL(parsing: text)
        } throws: { error in
            let description = "\(error)"
            return description.contains("percent escape") && description.contains("redis://***@cache") && !description.contains(userInfo)
        }
    }

    @Test func streamIDsOrderAsRedisOrdersEntries() throws {
        let ids = try ["1-10", "2", "1-9", "10-0", "2-1"].map { try #require(StreamID($0)) }
        #expect(ids.sorted() == [StreamID("1-9"), StreamID("1-10"), StreamID("2-0"), StreamID("2-1"), StreamID("10-0")])
        #expect(StreamID("2") == StreamID("2-0"))
        for invalid in ["$", "", "1-", "-1", "1-2-3", "+1-0", "a-1"] { #expect(StreamID(invalid) == nil, "\(invalid)") }
    }

    @Test func streamFieldsAndATickFieldDecodeAlike() {
        let decoder = TickPayloadDecoder(limits: Limits())
        let flat = decoder.decode(streamFields: ["code": "600519", "price": "1850.5", "prev_close": "1825.2"], timestamp: 7)
        let json = decoder.decode(streamFields: ["tick": #"{"code":"600519","price":1850.5,"prev_close":1825.2}"#], timestamp: 7)
        #expect(flat.ticks == json.ticks && flat.ticks.count == 1 && flat.problems.isEmpty)
    }

    @Test func oneInvalidTickInAnArrayIsDroppedAndTheOthersKept() {
        let decoder = TickPayloadDecoder(limits: Limits())
        let outcome = decoder.decode(json: Array(#"[{"code":"600519","price":1},{"code":"bad code!","price":1}]"#.utf8), timestamp: 1)
        #expect(outcome.ticks.map(\.code) == ["600519"] && outcome.problems.count == 1)
    }

    @Test func theBackoffDoublesUpToItsCapWithJitter() {
        var backoff = ReconnectBackoff(initial: .milliseconds(100), maximum: .seconds(5))
        var generator = SystemRandomNumberGenerator()
        let delays = (0..<12).map { _ in backoff.nextDelay(using: &generator) }
        #expect(delays[0] >= .milliseconds(50) && delays[0] <= .milliseconds(100))
        #expect(delays[3] >= .milliseconds(400) && delays[3] <= .milliseconds(800))
        #expect(delays.allSatisfy { $0 <= .seconds(5) } && delays[11] >= .milliseconds(2500))
        backoff.reset()
        #expect(backoff.nextDelay(using: &generator) <= .milliseconds(100))
    }
}
