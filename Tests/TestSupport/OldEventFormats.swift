/// The `alert_triggered` payload a build before event format 2 wrote, made from `formatTwo`, a
/// format 2 payload of the same firing that holds the rule's condition and threshold.
///
/// Format 2 is format 1 followed by the condition and the threshold, each an optional: presence
/// byte 1, then the condition's one byte, presence byte 1, then the threshold's 8 bytes.
public func formatOneAlertTriggered(fromFormatTwo formatTwo: [UInt8]) throws -> [UInt8] {
    let ruleFields = formatTwo.suffix(11)
    guard formatTwo.first == 2, formatTwo.count > 11, ruleFields.first == 1, ruleFields.dropFirst(2).first == 1 else {
        throw OldEventFormatError.notFormatTwoWithRule
    }
    var bytes = Array(formatTwo.dropLast(11))
    bytes[0] = 1
    return bytes
}

public enum OldEventFormatError: Error {
    /// Not a format 2 `alert_triggered` payload holding the rule's condition and threshold.
    case notFormatTwoWithRule
}
