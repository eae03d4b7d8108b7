import Publishers

extension SharedSecrets {
    /// Signing as `redis` says.
    convenience init(_ redis: Configuration.Redis) {
        self.init(secret: redis.secret, required: redis.secretRequired, accepting: redis.secretAccepted.map { [$0] } ?? [])
    }

    /// Signing as `redis` says from now on.
    func replace(_ redis: Configuration.Redis) {
        replace(secret: redis.secret, required: redis.secretRequired, accepting: redis.secretAccepted.map { [$0] } ?? [])
    }
}
