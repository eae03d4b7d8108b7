/// The `alert_triggered` payload a build before event format 2 wrote, made from `current`, a
/// payload of format 2 or later of the same firing that holds the rule's condition and threshold.
///
/// Format 2 is format 1 followed by the condition and the threshold, each an optional: presence
/// byte 1, then the condition's one byte, presence byte 1, then the threshold's 8 bytes. Later
/// formats did not change `alert_triggered`.
public func formatOneAlertTriggered(from current: [UInt8]) throws -> [UInt8] {
    let ruleFields = current.suffix(11)
    guard let version = current.first, version >= 2, current.count > 11, ruleFields.first == 1, ruleFields.dropFirst(2).first == 1 else {
        throw OldEventFormatError.notAsDescribed
    }
    var bytes = Array(current.dropLast(11))
    bytes[0] = 1
    return bytes
}

/// The `signals_replaced` payload a build before event format 3 wrote, made from `current`, a
/// payload of format 3 or later of the same list that added no code.
///
/// Format 3 is format 2 followed by the added codes, an optional list: presence byte 1, then the
/// count (0 here).
public func formatTwoSignalsReplaced(from current: [UInt8]) throws -> [UInt8] {
    guard let version = current.first, version >= 3, current.suffix(2) == [1, 0] else { throw OldEventFormatError.notAsDescribed }
    var bytes = Array(current.dropLast(2))
    bytes[0] = 2
    return bytes
}

public enum OldEventFormatError: Error {
    /// Not a payload of the format and content the helper describes.
    case notAsDescribed
}
