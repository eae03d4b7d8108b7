import HummingbirdCore
import Testing

@testable import brokerd

struct URIFormValueTests {
    @Test("query values are read as forms write them: + is a space, %XX a byte, the first of repeats")
    func queryValuesAreFormDecoded() {
        let uri = URI("/api/signals/buy?strategy=%E9%87%8F%E8%83%BD+wave&plus=a%2Bb&empty=&bare&strategy=second&broken=%E9%8&key+name=x")
        #expect(uri.formValue("strategy") == "量能 wave")
        #expect(uri.formValue("plus") == "a+b")
        #expect(uri.formValue("empty") == "")
        #expect(uri.formValue("bare") == "")
        #expect(uri.formValue("broken") == "%E9%8")
        #expect(uri.formValue("key name") == "x")
        #expect(uri.formValue("missing") == nil)
        #expect(URI("/ws/stock/prices").formValue("resume") == nil)
    }
}
