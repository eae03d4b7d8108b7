/// One value for one setting from one source.
struct SettingEntry: Sendable, Equatable {
    let setting: Setting
    let value: SettingValue
    let source: ConfigurationSource

    /// The setting as the source spells it: `limits.max_frame_bytes` in the file, `max_frame_bytes` otherwise.
    var displayName: String {
        if case .file = source { setting.filePath } else { setting.name }
    }
}
