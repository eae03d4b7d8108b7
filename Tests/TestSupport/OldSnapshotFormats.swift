/// The snapshot a build before format 2 (f5fc3b0) wrote, made from `formatFour`, a format 4
/// snapshot of a projection without source positions and without resumed sessions' starts, whose
/// recent news ids are `newsIDs` (as formats before 4 have them: the ids of its news items).
///
/// Format 4 is format 1 followed by the source positions (format 2) and the resumed sessions'
/// starts (format 3), both empty here, one zero count byte each, then the recent news ids (format 4).
public func formatOneSnapshot(fromFormatFour formatFour: [UInt8], newsIDs: [String]) throws -> [UInt8] {
    var bytes = try formatThreeSnapshot(fromFormatFour: formatFour, newsIDs: newsIDs)
    guard bytes.suffix(2) == [0, 0] else { throw OldSnapshotFormatError.notBare }
    bytes.removeLast(2)
    bytes[0] = 1
    return bytes
}

/// The snapshot a build before format 4 wrote: `formatFour` without its recent news ids, which must
/// be `newsIDs`.
public func formatThreeSnapshot(fromFormatFour formatFour: [UInt8], newsIDs: [String]) throws -> [UInt8] {
    let section = encodedStrings(newsIDs)
    guard formatFour.first == 4, formatFour.count > section.count, formatFour.suffix(section.count).elementsEqual(section) else {
        throw OldSnapshotFormatError.notBare
    }
    var bytes = Array(formatFour.dropLast(section.count))
    bytes[0] = 3
    return bytes
}

/// A count and the strings, as the snapshot writes them: varint count, then each as varint length and UTF-8.
private func encodedStrings(_ strings: [String]) -> [UInt8] {
    func varint(_ value: Int) -> [UInt8] {
        var v = UInt64(value), out: [UInt8] = []
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        return out + [UInt8(v)]
    }
    return varint(strings.count) + strings.flatMap { varint($0.utf8.count) + Array($0.utf8) }
}

public enum OldSnapshotFormatError: Error {
    /// Not format 4, or it holds what the older format cannot: source positions, resumed
    /// sessions' starts, or news ids beyond those given.
    case notBare
}
