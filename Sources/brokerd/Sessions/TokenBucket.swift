/// Per-client message rate limit: `rate` tokens per second refill a bucket of `burst`.
struct TokenBucket {
    let rate: Double
    let burst: Double
    private var tokens: Double
    private var updatedAt: Int64

    init(rate: Double, burst: Int, now: Int64) {
        self.rate = rate
        self.burst = Double(burst)
        self.tokens = Double(burst)
        self.updatedAt = now
    }

    /// Takes one token at `now` (UTC µs); false when the bucket is empty.
    mutating func take(now: Int64) -> Bool {
        let elapsed = Double(max(0, now - updatedAt)) / 1_000_000
        tokens = min(burst, tokens + elapsed * rate)
        updatedAt = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
