import Broker
import Logging
import Metrics
import Synchronization

/// Runs the registered publishers: hands each the applied events of its kinds, keeps one
/// publisher's failure from reaching the others, and restarts failed `run` loops with backoff.
public final class PublisherHost: EventObserver {
    /// Counters of one publisher, for stats and metrics.
    public struct Statistics: Sendable, Hashable {
        public var events: UInt64 = 0
        public var failures: UInt64 = 0
        public var restarts: UInt64 = 0
        public var lastError: String?
    }

    public let publishers: [any Publisher]
    private let sink: any PushSink
    private let logger: Logger
    private let counters: Mutex<[String: Statistics]>
    /// Each publisher's run of failed pushes, so one failing on every batch is not logged every time.
    private let streaks = Mutex<[String: FailureStreak]>([:])

    public init(publishers: [any Publisher], sink: any PushSink, logger: Logger) {
        self.publishers = publishers
        self.sink = sink
        self.logger = logger
        self.counters = Mutex(Dictionary(uniqueKeysWithValues: publishers.map { ($0.name, Statistics()) }))
    }

    /// Per-publisher counters.
    public var statistics: [String: Statistics] { counters.withLock { $0 } }

    public func applied(_ events: [RecordedEvent], projection: Projection) {
        // Sent once every publisher ran, in seq order across publishers.
        let pushes = SeqOrderedPushes()
        defer { pushes.flush(to: sink) }
        for publisher in publishers {
            let relevant = events.filter { publisher.kinds.contains($0.event.kind) }
            guard !relevant.isEmpty else { continue }
            do {
                try publisher.publish(relevant, projection: projection, to: pushes)
                counters.withLock { $0[publisher.name, default: .init()].events += UInt64(relevant.count) }
                if let failures = streaks.withLock({ $0[publisher.name]?.succeeded() }) {
                    logger.notice("publisher works again", metadata: ["publisher": "\(publisher.name)", "failures": .stringConvertible(failures)])
                }
            } catch {
                counters.withLock {
                    $0[publisher.name, default: .init()].failures += 1
                    $0[publisher.name, default: .init()].lastError = "\(error)"
                }
                Counter(label: "brokerd_publisher_failures_total", dimensions: [("publisher", publisher.name)]).increment()
                if let failures = streaks.withLock({ $0[publisher.name, default: FailureStreak()].failed() }) {
                    logger.error(
                        "publisher failed; the others go on (repeats are counted in brokerd_publisher_failures_total, logged once a minute)",
                        metadata: ["publisher": "\(publisher.name)", "error": "\(error)", "failures": .stringConvertible(failures)])
                }
            }
        }
    }

    /// Runs every publisher's background loop until cancelled, restarting a failed one after a
    /// growing pause (0.5 s doubling to 30 s).
    public func run(_ context: PublisherContext) async {
        await withTaskGroup(of: Void.self) { group in
            for publisher in publishers {
                group.addTask { await self.supervise(publisher, context) }
            }
        }
    }

    /// A loop that ran this long before failing starts the pauses over.
    static let healthyRun: Duration = .seconds(60)

    private func supervise(_ publisher: any Publisher, _ context: PublisherContext) async {
        var pause = Duration.milliseconds(500)
        while !Task.isCancelled {
            let started = ContinuousClock.now
            do {
                try await publisher.run(context)
                return
            } catch is CancellationError {
                return
            } catch {
                // A failure after a long healthy run is a new trouble, not the last one going on.
                if ContinuousClock.now - started >= Self.healthyRun { pause = .milliseconds(500) }
                counters.withLock {
                    $0[publisher.name, default: .init()].restarts += 1
                    $0[publisher.name, default: .init()].lastError = "\(error)"
                }
                Counter(label: "brokerd_publisher_restarts_total", dimensions: [("publisher", publisher.name)]).increment()
                logger.error("publisher loop failed; restarting", metadata: ["publisher": "\(publisher.name)", "error": "\(error)", "in": "\(pause)"])
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .seconds(30))
            }
        }
    }
}
