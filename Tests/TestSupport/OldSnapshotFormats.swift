/// The snapshot a build before format 2 (f5fc3b0) wrote, made from `formatThree`, a format 3
/// snapshot of a projection without source positions and without resumed sessions' starts.
///
/// Format 3 is format 1 followed by the source positions (format 2) and the resumed sessions'
/// starts (format 3); both lists are empty here, one zero count byte each.
public func formatOneSnapshot(fromFormatThree formatThree: [UInt8]) throws -> [UInt8] {
    guard formatThree.first == 3, formatThree.suffix(2) == [0, 0] else { throw OldSnapshotFormatError.notBareFormatThree }
    var bytes = formatThree
    bytes.removeLast(2)
    bytes[0] = 1
    return bytes
}

public enum OldSnapshotFormatError: Error {
    /// Not format 3, or it holds source positions or resumed sessions' starts, which format 1 cannot.
    case notBareFormatThree
}
