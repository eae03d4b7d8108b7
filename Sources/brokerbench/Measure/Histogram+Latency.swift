import Histogram

extension Histogram<UInt64> {
    /// The value at `percentile` (0–100), or 0 when nothing was recorded.
    func percentileOrZero(_ percentile: Double) -> UInt64 {
        totalCount == 0 ? 0 : valueAtPercentile(percentile)
    }

    /// `{"p50", "p99", "p99_9", "max"}` in the histogram's unit: how every subcommand reports latency.
    var latencySummaryJSON: JSONValue {
        .object([
            ("p50", .int(Int(percentileOrZero(50)))),
            ("p99", .int(Int(percentileOrZero(99)))),
            ("p99_9", .int(Int(percentileOrZero(99.9)))),
            ("max", .int(Int(maxRecorded))),
        ])
    }
}
