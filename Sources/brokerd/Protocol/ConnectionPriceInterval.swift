/// The price interval of one connection: the shortest time between two price updates of one
/// subscription to it (see `LoopFanOut`). A client asks for a longer one than the broker's
/// `price_interval` in its URL (`/ws/stock/prices?price_interval=0.5`), as a screen that repaints
/// twice a second or a metered mobile link would; it never gets a shorter one, which would undo
/// what the operator set the broker's for.
///
/// What a client asks for is rounded up to one of a few `steps`: connections of an event loop
/// that asked for one step share one fan-out, whose updates are encoded once for all of them, so
/// the number of fan-outs a loop serves stays small whatever clients ask for.
///
/// What the connection gets follows the broker's interval when that is reloaded: the longer of
/// the step it asked for and the broker's new one.
struct ConnectionPriceInterval: Equatable {
    /// What the connection gets now.
    let interval: Duration
    /// The step the client asked for; nil when it asked for none (or for 0, or for something that
    /// is not an interval): then it gets the broker's.
    let asked: Duration?
    /// Why the client's `price_interval` was not taken (then it gets the broker's); nil when it was
    /// or the client asked for none.
    let problem: String?

    /// The intervals a client can get, shortest first: a request between two gets the longer.
    static let steps: [Duration] = [
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
    ]

    /// The query parameter of the WebSocket URL.
    static let queryName = "price_interval"

    /// The interval for a connection whose URL says `requested` (nil when it does not), on a broker
    /// whose own `price_interval` is `brokerInterval`.
    init(requested: String?, brokerInterval: Duration) {
        guard let requested else {
            self.init(interval: brokerInterval, asked: nil, problem: nil)
            return
        }
        guard let seconds = Self.seconds(requested), seconds <= 60 else {
            self.init(
                interval: brokerInterval, asked: nil,
                problem: "price_interval must be seconds from 0 to 60, such as 0.5; got '\(requested.prefix(40))',"
                    + " so price updates come at the broker's interval (\(brokerInterval.inSeconds.plainText) s)")
            return
        }
        let step = seconds == 0 ? .zero : Self.steps.first { $0 >= .seconds(seconds) } ?? Self.steps[Self.steps.count - 1]
        self.init(interval: max(step, brokerInterval), asked: step == .zero ? nil : step, problem: nil)
    }

    private init(interval: Duration, asked: Duration?, problem: String?) {
        self.interval = interval
        self.asked = asked
        self.problem = problem
    }

    /// A plain decimal (`2`, `0.25`, `.5`): no sign, exponent or hex, which a URL would not mean.
    private static func seconds(_ text: String) -> Double? {
        guard !text.isEmpty, text.utf8.count <= 20, text.utf8.allSatisfy({ $0 == UInt8(ascii: ".") || (0x30...0x39).contains($0) }),
            text.utf8.filter({ $0 == UInt8(ascii: ".") }).count <= 1, text != "."
        else { return nil }
        return Double(text)
    }
}

extension Duration {
    /// The duration in seconds, as JSON and messages give it.
    var inSeconds: Double {
        Double(microseconds) / 1_000_000
    }
}
