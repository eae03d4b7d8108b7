/// Bounds the decider enforces on commands; defaults are the shipped configuration.
public struct Limits: Sendable, Hashable {
    /// Subscriptions one session may hold.
    public var maxSubscriptionsPerClient: Int
    /// Characters in a subscription target, client id, rule id, news id or strategy name.
    public var maxTargetLength: Int
    /// Characters in a stock or signal display name.
    public var maxNameLength: Int
    /// Ticks in one `ingestTicks` batch.
    public var maxTicksPerBatch: Int
    /// Signals in one strategy's list.
    public var maxSignalsPerStrategy: Int
    /// Alert rules one user may own.
    public var maxAlertRulesPerUser: Int
    /// UTF-8 bytes in a news title, summary or url.
    public var maxNewsFieldBytes: Int
    /// Stock codes one news item is tagged with.
    public var maxCodesPerNews: Int
    /// UTF-8 bytes in a signal's reason (its date gets `maxTargetLength` characters).
    public var maxSignalReasonBytes: Int
    /// Bars in one `ingestBars` batch.
    public var maxBarsPerBatch: Int

    /// Creates limits; every parameter has the shipped default.
    public init(
        maxSubscriptionsPerClient: Int = 100,
        maxTargetLength: Int = 64,
        maxNameLength: Int = 64,
        maxTicksPerBatch: Int = 10_000,
        maxSignalsPerStrategy: Int = 5_000,
        maxAlertRulesPerUser: Int = 100,
        maxNewsFieldBytes: Int = 16_384,
        maxCodesPerNews: Int = 500,
        maxSignalReasonBytes: Int = 1_024,
        maxBarsPerBatch: Int = 10_000
    ) {
        self.maxSubscriptionsPerClient = maxSubscriptionsPerClient
        self.maxTargetLength = maxTargetLength
        self.maxNameLength = maxNameLength
        self.maxTicksPerBatch = maxTicksPerBatch
        self.maxSignalsPerStrategy = maxSignalsPerStrategy
        self.maxAlertRulesPerUser = maxAlertRulesPerUser
        self.maxNewsFieldBytes = maxNewsFieldBytes
        self.maxCodesPerNews = maxCodesPerNews
        self.maxSignalReasonBytes = maxSignalReasonBytes
        self.maxBarsPerBatch = maxBarsPerBatch
    }
}
