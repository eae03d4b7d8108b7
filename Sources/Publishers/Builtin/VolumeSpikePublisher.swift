import Broker
import Synchronization

/// Example of a custom publisher (see README, "Adding a publisher"): sends `volume_spike` to
/// `stock` subscribers when one tick's traded volume is far above that code's recent average.
public final class VolumeSpikePublisher: Publisher {
    public let name = "volume_spike"
    public let kinds: Set<EventKind> = [.priceTicked]
    /// How many times the moving average a tick's volume must reach.
    public let factor: Double

    /// Per code: the last cumulative volume and the moving average of per-tick volume.
    private let history = Mutex<[String: (cumulative: Int64, average: Double)]>([:])

    public init(factor: Double = 5) {
        self.factor = factor
    }

    public struct Spike: Encodable, Sendable {
        public let code: String
        public let volume: Int64
        public let average: Double
        public let price: Double
    }

    public func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws {
        for recorded in events {
            guard case .priceTicked(let tick) = recorded.event else { continue }
            let spike = history.withLock { history -> Spike? in
                guard let last = history[tick.code] else {
                    history[tick.code] = (tick.volume, 0)
                    return nil
                }
                let traded = max(0, tick.volume - last.cumulative)
                let average = last.average == 0 ? Double(traded) : last.average * 0.9 + Double(traded) * 0.1
                history[tick.code] = (tick.volume, average)
                guard last.average > 0, Double(traded) >= last.average * factor else { return nil }
                return Spike(code: tick.code, volume: traded, average: last.average, price: tick.price)
            }
            guard let spike else { continue }
            let subscription = Subscription(type: .stock, target: tick.code)
            sink.send(.message(type: "volume_spike", data: spike), seq: recorded.seq, to: subscription, projection: projection)
        }
    }
}
