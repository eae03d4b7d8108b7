import Testing

@testable import brokerd

/// What a connection's `?price_interval=` gets it: a step at least as long as it asked, never
/// shorter than the broker's, and the broker's with a reason when the value is not seconds.
@Suite struct ConnectionPriceIntervalTests {
    @Test(arguments: [
        ("0.5", Duration.milliseconds(500)),
        ("0.3", .milliseconds(500)),
        ("0.001", .milliseconds(50)),
        (".1", .milliseconds(100)),
        ("1", .seconds(1)),
        ("1.5", .seconds(2)),
        ("3", .seconds(5)),
        ("60", .seconds(60)),
        ("59.9", .seconds(60)),
        ("0", .zero),
        ("0.0", .zero),
    ])
    func aRequestGetsTheNextStepUp(requested: String, expected: Duration) {
        let chosen = ConnectionPriceInterval(requested: requested, brokerInterval: .zero)
        #expect(chosen.interval == expected)
        #expect(chosen.asked == (expected == .zero ? nil : expected), "0 asks for nothing of its own")
        #expect(chosen.problem == nil)
    }

    @Test func neverShorterThanTheBrokers() {
        let broker = Duration.milliseconds(10)
        #expect(ConnectionPriceInterval(requested: nil, brokerInterval: broker).interval == broker, "nothing asked")
        #expect(ConnectionPriceInterval(requested: "0", brokerInterval: broker).interval == broker)
        #expect(ConnectionPriceInterval(requested: "0.01", brokerInterval: .milliseconds(200)).interval == .milliseconds(200))
        #expect(ConnectionPriceInterval(requested: "0.01", brokerInterval: broker).interval == .milliseconds(50))
        #expect(ConnectionPriceInterval(requested: "2", brokerInterval: .seconds(1)).interval == .seconds(2))
        // What it asked for is kept apart from what it gets: a broker's interval reloaded lower
        // must not take it below its own.
        #expect(ConnectionPriceInterval(requested: "0.01", brokerInterval: .milliseconds(200)).asked == .milliseconds(50))
        #expect(ConnectionPriceInterval(requested: nil, brokerInterval: broker).asked == nil)
    }

    @Test(arguments: ["", "-1", "61", "60.01", "abc", "1e1", "0x10", "nan", "inf", "1.2.3", ".", " 1", "1 ", "+1", "１"])
    func aValueThatIsNotSecondsFrom0To60GetsTheBrokersWithAReason(requested: String) throws {
        let chosen = ConnectionPriceInterval(requested: requested, brokerInterval: .milliseconds(250))
        #expect(chosen.interval == .milliseconds(250) && chosen.asked == nil)
        let problem = try #require(chosen.problem)
        #expect(problem.contains("price_interval must be seconds from 0 to 60"))
        #expect(problem.contains("the broker's interval (0.25 s)"))
    }

    @Test func aLongValueIsCutInTheReason() throws {
        let problem = try #require(ConnectionPriceInterval(requested: String(repeating: "x", count: 500), brokerInterval: .zero).problem)
        #expect(problem.contains("'" + String(repeating: "x", count: 40) + "'"))
        #expect(problem.contains("(0 s)"))
    }
}
