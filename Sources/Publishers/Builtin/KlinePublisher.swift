import Broker
import Journal
import Synchronization

/// `kline_update` to `stock` subscribers of the code: bars ingested as they are (`POST /api/klines`,
/// Redis), and bars built here from ticks — updated on every tick, closed at the period boundary.
/// A close is journaled (`kline_updated` with `closed: true`) and reaches clients from there, so
/// resuming clients and audits see every closed bar.
public final class KlinePublisher: Publisher {
    public let name = "kline"
    public let kinds: Set<EventKind> = [.klineUpdated, .priceTicked]
    /// Periods built from ticks, with their length in microseconds.
    public let periods: [(name: String, length: Int64)]

    /// A bar being built, with the cumulative volume it opened at (tick volume is the day's total).
    private struct OpenBar {
        var bar: KlineBar
        var openingVolume: Int64
    }

    private let openBars = Mutex<[BarKey: OpenBar]>([:])
    private let closes: AsyncStream<KlineBar>.Continuation
    private let closeStream: AsyncStream<KlineBar>

    public init(periods: [(name: String, length: Int64)] = [("1m", 60_000_000), ("5m", 300_000_000)]) {
        self.periods = periods
        (closeStream, closes) = AsyncStream.makeStream(of: KlineBar.self)
    }

    public func publish(_ events: [RecordedEvent], projection: Projection, to sink: any PushSink) throws {
        for recorded in events {
            switch recorded.event {
            case .klineUpdated(let bar):
                send(bar, seq: recorded.seq, projection: projection, sink: sink)
            case .priceTicked(let tick):
                for bar in update(with: tick) {
                    send(bar, seq: recorded.seq, projection: projection, sink: sink)
                }
            default:
                continue
            }
        }
    }

    /// Journals closed bars; a timer also closes bars of codes that stopped ticking.
    public func run(_ context: PublisherContext) async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await bar in self.closeStream {
                    _ = try? await context.store.execute(.ingestBar(bar))
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    self.closeExpiredBars(now: WallClock.microsecondsNow())
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func send(_ bar: KlineBar, seq: UInt64, projection: Projection, sink: any PushSink) {
        let subscription = Subscription(type: .stock, target: bar.code)
        guard projection.subscriptions.hasSubscribers(subscription) else { return }
        sink.send(.message(type: "kline_update", data: bar), seq: seq, to: subscription, projection: projection)
    }

    /// Folds a tick into its bars; returns the updated (open) bars and queues the closes it causes.
    private func update(with tick: PriceTick) -> [KlineBar] {
        openBars.withLock { bars in
            periods.map { period in
                let start = tick.timestamp - tick.timestamp % period.length
                let key = BarKey(code: tick.code, period: period.name)
                if var open = bars[key], open.bar.start == start {
                    open.bar.high = max(open.bar.high, tick.price)
                    open.bar.low = min(open.bar.low, tick.price)
                    open.bar.close = tick.price
                    open.bar.volume = max(0, tick.volume - open.openingVolume)
                    bars[key] = open
                    return open.bar
                }
                if let finished = bars[key], finished.bar.start < start {
                    var closed = finished.bar
                    closed.closed = true
                    closes.yield(closed)
                }
                let bar = KlineBar(
                    code: tick.code, period: period.name, open: tick.price, high: tick.price, low: tick.price,
                    close: tick.price, volume: 0, start: start, closed: false)
                bars[key] = OpenBar(bar: bar, openingVolume: tick.volume)
                return bar
            }
        }
    }

    private func closeExpiredBars(now: Int64) {
        let lengths = Dictionary(uniqueKeysWithValues: periods.map { ($0.name, $0.length) })
        openBars.withLock { bars in
            for (key, open) in bars where open.bar.start + (lengths[key.period] ?? .max) <= now {
                var closed = open.bar
                closed.closed = true
                closes.yield(closed)
                bars[key] = nil
            }
        }
    }
}
