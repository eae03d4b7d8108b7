/// Which codes the Redis feed's ticks are for: most on a large universe nobody subscribes to,
/// a share on the benchmark strategy's codes, which the clients receive.
///
/// Strategy ticks carry the strategy's tick ids (1, 2, …, the same scheme as the HTTP feed, so the
/// clients' tallies and the send-time table work unchanged). Universe ticks carry ids from
/// `universeIDBase` on, which no client ever sees; they load the ingest, journal and projection.
/// The two kinds interleave evenly: of any `n` consecutive ticks, `n × strategyShare` (rounded)
/// are strategy ticks.
struct TickMix: Sendable {
    /// Universe codes are 300000, 300001, … (ChiNext shapes), clear of the strategy's 600000….
    static let firstUniverseCode = 300_000
    static let maximumUniverse = 100_000
    /// Universe tick ids start here, far above any strategy id a run can reach.
    static let universeIDBase: UInt64 = 1 << 40

    let strategy: BenchStrategy
    let universe: Int
    let strategyShare: Double

    /// Ticks generated so far, both kinds.
    private(set) var generated: UInt64 = 0
    /// The id the next strategy tick carries.
    private(set) var nextStrategyID: UInt64 = 1
    private var universeSerial: UInt64 = 0

    init(strategy: BenchStrategy, universe: Int, strategyShare: Double) {
        precondition((1...Self.maximumUniverse).contains(universe), "universe must be 1…\(Self.maximumUniverse)")
        precondition((0...1).contains(strategyShare), "strategy share must be 0…1")
        self.strategy = strategy
        self.universe = universe
        self.strategyShare = strategyShare
    }

    /// One line for the report: how the ticks are spread.
    var summary: String {
        let percent = Format.decimal(strategyShare * 100, places: strategyShare * 100 < 1 ? 2 : 0)
        let rest = Format.decimal((1 - strategyShare) * 100, places: strategyShare * 100 < 1 ? 2 : 0)
        return "\(percent) % on the \(strategy.size) strategy codes (\(strategy.code(at: 0))…), "
            + "\(rest) % on \(Format.count(universe)) universe codes (\(Self.firstUniverseCode)…\(Self.firstUniverseCode + universe - 1))"
    }

    /// Appends `count` ticks as one JSON array (the shape of `POST /api/ticks`' `ticks`) to `json`.
    mutating func appendTicks(_ count: Int, to json: inout [UInt8]) {
        json.append(UInt8(ascii: "["))
        for index in 0..<count {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            let n = generated
            generated += 1
            let isStrategyTick = (Double(n + 1) * strategyShare).rounded(.down) > (Double(n) * strategyShare).rounded(.down)
            if isStrategyTick {
                let id = nextStrategyID
                nextStrategyID += 1
                let codeIndex = strategy.codeIndex(ofTick: id)
                Self.appendTick(
                    code: BenchStrategy.firstCode + codeIndex, namePrefix: "Bench ", nameIndex: codeIndex, id: id, to: &json)
            } else {
                let serial = universeSerial
                universeSerial += 1
                let codeIndex = Int(serial % UInt64(universe))
                Self.appendTick(
                    code: Self.firstUniverseCode + codeIndex, namePrefix: "Stock ", nameIndex: codeIndex,
                    id: Self.universeIDBase + serial, to: &json)
            }
        }
        json.append(UInt8(ascii: "]"))
    }

    /// `{"code":"600001","name":"Bench 1","price":10.53,"volume":ID,"prev_close":10.0}`, written
    /// byte by byte: at 100,000 ticks/s string interpolation would cost the publisher thread more
    /// than publishing does.
    private static func appendTick(code: Int, namePrefix: StaticString, nameIndex: Int, id: UInt64, to json: inout [UInt8]) {
        // A price between 10.00 and 11.99 that moves with every tick, as the HTTP feed's.
        let cents = 1_000 + Int(id % 200)
        append(#"{"code":""#, to: &json)
        appendDigits(UInt64(code), to: &json)
        append(#"","name":""#, to: &json)
        append(namePrefix, to: &json)
        appendDigits(UInt64(nameIndex), to: &json)
        append(#"","price":"#, to: &json)
        appendDigits(UInt64(cents / 100), to: &json)
        json.append(UInt8(ascii: "."))
        json.append(UInt8(ascii: "0") + UInt8(cents % 100 / 10))
        json.append(UInt8(ascii: "0") + UInt8(cents % 10))
        append(#","volume":"#, to: &json)
        appendDigits(id, to: &json)
        append(#","prev_close":10.0}"#, to: &json)
    }

    @inline(__always)
    private static func append(_ literal: StaticString, to json: inout [UInt8]) {
        json.append(contentsOf: UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount))
    }

    @inline(__always)
    private static func appendDigits(_ value: UInt64, to json: inout [UInt8]) {
        var divisor: UInt64 = 1
        while value / divisor >= 10 { divisor *= 10 }
        while divisor > 0 {
            json.append(UInt8(ascii: "0") + UInt8(value / divisor % 10))
            divisor /= 10
        }
    }
}
