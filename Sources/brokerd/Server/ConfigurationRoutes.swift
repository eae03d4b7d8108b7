import Hummingbird
import Journal

/// `GET /api/config`: the settings the broker runs with (secrets only as `"set"`), which of them
/// a reload changes, and how the reloads went.
struct ConfigurationBody: Encodable {
    /// Every setting by name, as a flag would give it; null when it is not set.
    let settings: [String: String?]
    /// The settings a reload applies; a change of any other waits for a restart.
    let reloadable: [String]
    let reloads: Reloads

    struct Reloads: Encodable {
        let count: Int
        let failed: Int
        /// The latest reload's outcome; null before the first.
        let last: ReloadBody?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(count, forKey: .count)
            try container.encode(failed, forKey: .failed)
            try container.encode(last, forKey: .last)
        }

        enum CodingKeys: String, CodingKey {
            case count, failed, last
        }
    }
}

/// What one reload did: `POST /api/config/reload`'s answer, and the latest in `GET /api/config`.
struct ReloadBody: Encodable {
    /// `applied` (the configuration resolved; its reloadable changes apply) or `failed` (nothing changed).
    let result: String
    let at: String
    /// The reloadable settings that changed, now in effect.
    let applied: [String]
    /// Settings changed in the configuration that keep their running value until a restart.
    let restartRequired: [String]
    /// Why a failed reload changed nothing: the one line a start-up with it would stop with.
    let error: String?

    init(_ outcome: ReloadOutcome) {
        result = outcome.succeeded ? "applied" : "failed"
        at = WireTime.format(microseconds: outcome.at)
        applied = outcome.changes?.applied.map(\.name) ?? []
        restartRequired = outcome.changes?.needRestart.map(\.name) ?? []
        error = outcome.error.map { "\($0)" }
    }

    enum CodingKeys: String, CodingKey {
        case result, at, applied, error
        case restartRequired = "restart_required"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(result, forKey: .result)
        try container.encode(at, forKey: .at)
        try container.encode(applied, forKey: .applied)
        try container.encode(restartRequired, forKey: .restartRequired)
        // Null rather than absent: a reader checks one field.
        try container.encode(error, forKey: .error)
    }
}

extension APIRoutes {
    /// `GET /api/config` (admin).
    func configuration() async -> Response {
        let running = runtime.settings.configuration
        var settings: [String: String?] = [:]
        for setting in Setting.allCases { settings[setting.name] = running.shownValue(of: setting) }
        let reloads = await runtime.reloads.sofar
        return JSONResponse.make(ConfigurationBody(
            settings: settings,
            reloadable: Setting.allCases.filter(\.isReloadable).map(\.name),
            reloads: .init(count: reloads.count, failed: reloads.failures, last: reloads.latest.map(ReloadBody.init))))
    }

    /// `POST /api/config/reload` (admin): what SIGHUP does, answered. A configuration that does
    /// not resolve is 422 `invalid_configuration` naming the setting, and changes nothing.
    func reloadConfiguration() async throws -> Response {
        let outcome = await runtime.reload()
        if let error = outcome.error {
            throw APIError(
                status: .unprocessableContent, error: "invalid_configuration",
                details: "\(error); nothing was reloaded, the broker keeps the settings it runs with")
        }
        return JSONResponse.make(ReloadBody(outcome))
    }
}
