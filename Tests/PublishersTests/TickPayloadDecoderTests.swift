import Broker
import Testing

@testable import Publishers

/// Payloads the fast scanner leaves to JSONDecoder: a tick that does not decode costs only itself.
@Suite struct TickPayloadDecoderTests {
    private static let first = #"{"code":"600000","price":10.5}"#
    private static let last = #"{"code":"000001","price":12}"#

    private func decode(_ json: String) -> TickPayloadDecoder.Outcome {
        TickPayloadDecoder(limits: Limits()).decode(json: Array(json.utf8), timestamp: 1_700_000_000_000_000)
    }

    @Test(arguments: [
        (#"{"code":"600016","price":"bad"}"#, "wrong type at 'price'"),
        (#"{"code":"600016","price":"10.5"}"#, "wrong type at 'price'"),
        (#"{"code":"600016","price":10,"volume":100.5}"#, "wrong type at 'volume'"),
        (#"{"price":10}"#, "missing 'code'"),
        (#"{"code":600016,"price":10}"#, "wrong type at 'code'"),
        ("null", "not an object"),
    ])
    func aTickThatDoesNotDecodeIsDroppedAndTheOthersOfItsMessageKept(bad: String, reason: String) {
        for message in ["[\(Self.first),\(bad),\(Self.last)]", #"{"ticks":[\#(Self.first),\#(bad),\#(Self.last)]}"#] {
            let outcome = decode(message)
            #expect(outcome.ticks.map(\.code) == ["600000", "000001"], "\(message)")
            #expect(outcome.problems.count == 1, "\(message)")
            let problem = outcome.problems.first ?? ""
            #expect(problem.hasPrefix("ticks[1]: ") && problem.contains(reason), "\(problem)")
        }
    }

    @Test func aStreamEntryKeepsItsGoodTicksWhenOneDoesNotDecode() {
        let outcome = TickPayloadDecoder(limits: Limits()).decode(
            streamFields: ["tick": #"[\#(Self.first),{"code":"600016","price":"bad"},\#(Self.last)]"#], timestamp: 7)
        #expect(outcome.ticks.map(\.code) == ["600000", "000001"])
        #expect(outcome.problems == ["ticks[1]: wrong type at 'price'"])
    }

    @Test func eachDroppedTickIsOneProblem() {
        let outcome = decode(#"[null,\#(Self.first),{"code":"600016","price":-1},{"code":"600017","price":"x"}]"#)
        #expect(outcome.ticks.map(\.code) == ["600000"])
        #expect(outcome.problems.count == 3, "\(outcome.problems)")
    }

    @Test(arguments: ["not json", "42", #""600000""#, #"{"ticks":5}"#, #"{"ticks":[],"node":5}"#, #"{"code":"600000"}"#])
    func aPayloadThatIsNoTickMessageIsDroppedWholeAsOneProblem(json: String) {
        let outcome = decode(json)
        #expect(outcome.ticks.isEmpty)
        #expect(outcome.problems.count == 1)
        #expect(outcome.problems.first?.hasPrefix("not a tick, an array of ticks or {\"ticks\":[...]}") == true, "\(outcome.problems)")
    }

    @Test func aMessageWithAKeyTwiceIsStillDroppedWhole() {
        let outcome = decode(#"[\#(Self.first),{"code":"000001","price":2,"price":3}]"#)
        #expect(outcome.ticks.isEmpty)
        #expect(outcome.problems.count == 1 && outcome.problems.first?.contains("appears twice") == true)
    }
}
