/// Lowercase hexadecimal, two digits a byte: hashes in the journal tools, resume tokens and keys.
enum Hex {
    static func string(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { $0 < 16 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }
}
