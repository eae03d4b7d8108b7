import Testing

@testable import brokerbench

/// The load tool's one-pass reader of server messages: what it finds decides every lost, duplicate
/// and latency figure in BENCHMARKS.md, so it must find exactly what a JSON parser would.
struct ServerFrameScannerTests {
    private func scan(_ text: String) -> (ServerMessageKind, [ScannedEntry]) {
        var entries: [ScannedEntry] = [ScannedEntry(code: 1, tickID: 1)]  // cleared by the scan
        let bytes = Array(text.utf8)
        let kind = bytes.withUnsafeBytes { ServerFrameScanner.scan($0, entries: &entries) }
        return (kind, entries)
    }

    private func pairs(_ entries: [ScannedEntry]) -> [[UInt64]] {
        entries.map { [UInt64(bitPattern: Int64($0.code)), $0.tickID] }
    }

    @Test func readsTheEntriesOfAPriceUpdateAsTheBrokerWritesIt() {
        let message = #"""
            {"count":2,"data":[{"change":0.1,"change_percent":1,"code":"600001","name":"Bench 1","price":10.1,"timestamp":"2026-12-03T10:00:00.000Z","volume":52},{"change":0,"change_percent":0,"code":"600002","name":"Bench 2","price":10,"timestamp":"2026-12-03T10:00:00.000Z","volume":53}],"seq":9,"target":"bench_strategy","timestamp":"2026-12-03T10:00:00.001Z","type":"price_update"}
            """#
        let (kind, entries) = scan(message)
        #expect(kind == .priceUpdate)
        #expect(pairs(entries) == [[600_001, 52], [600_002, 53]])
    }

    @Test func pairsCodeAndVolumeWhateverTheKeyOrderAndSpacing() {
        let message = """
            { "type" : "price_update", "data" : [ { "volume" : 7 , "code" : "600003" },
              {"code": "600004",  "volume":8} ] }
            """
        let (kind, entries) = scan(message)
        #expect(kind == .priceUpdate)
        #expect(pairs(entries) == [[600_003, 7], [600_004, 8]])
    }

    @Test func keysInsideStringValuesAreNotKeys() {
        // A name that contains what looks like a key, with escaped quotes, must not shift the pairs.
        let message = #"""
            {"type":"price_update","data":[{"code":"600005","name":"x\",\"code\":\"600999\",\"volume\":1,\"y\\","volume":11}]}
            """#
        let (kind, entries) = scan(message)
        #expect(kind == .priceUpdate)
        #expect(pairs(entries) == [[600_005, 11]])
    }

    @Test func readsVolumesWrittenAsWholeDoubles() {
        let message = #"{"type":"price_update","data":[{"code":"600006","volume":12345.0},{"code":"600007","volume":1.2346e+04}]}"#
        #expect(pairs(scan(message).1) == [[600_006, 12_345], [600_007, 12_346]])
    }

    @Test func aVolumeThatIsNoTickIDReadsAsZeroAndACodeThatIsNoNumberAsMinusOne() {
        let message = #"{"type":"price_update","data":[{"code":"60000A","volume":1.5},{"code":"600008","volume":-3}]}"#
        #expect(pairs(scan(message).1) == [[UInt64(bitPattern: -1), 0], [600_008, 0]])
    }

    @Test(arguments: [
        (#"{"type":"pong","timestamp":"t"}"#, ServerMessageKind.pong),
        (#"{"type":"error","error":"rate_limited","details":"d"}"#, .error),
        (#"{"client_id":"client_0a1b2c3d","type":"connected","seq":1}"#, .connected),
        (#"{"type":"subscribed","target":"bench_strategy"}"#, .subscribed),
        (#"{"type":"unsubscribed","target":"bench_strategy"}"#, .other),
        (#"{"type":"kline_update","data":{"code":"600001","volume":3}}"#, .other),
        (#"{"data":[],"type":"price_update"}"#, .priceUpdate),
        ("not json at all", .other),
        (#"{"type":"#, .other),
    ])
    func tellsTheKindsApart(message: String, kind: ServerMessageKind) {
        #expect(scan(message).0 == kind)
    }

    @Test func aTruncatedMessageYieldsOnlyItsCompleteEntries() {
        let message = #"{"type":"price_update","data":[{"code":"600001","volume":5},{"code":"600002","vol"#
        #expect(pairs(scan(message).1) == [[600_001, 5]])
    }
}
