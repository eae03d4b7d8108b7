import Testing

@testable import Publishers

@Suite struct DailyLimitTests {
    @Test(arguments: [
        ("600519", "贵州茅台", 10), ("000001", "平安银行", 10), ("002594", "比亚迪", 10),
        ("300750", "宁德时代", 20), ("688981", "中芯国际", 20), ("689009", "九号公司", 20),
        ("430047", "诺思兰德", 30), ("830799", "艾融软件", 30), ("920001", "北交新股", 30),
        // Risk warnings change nothing since 7 July 2025 (main-board ST was ± 5 % before).
        ("600001", "ST某某", 10), ("000002", "*ST某某", 10), ("300001", "*ST某某", 20), ("688001", "ST某某", 20), ("830001", "ST某某", 30),
        ("SPY", "SPDR S&P 500", 10),
    ])
    func eachBoardHasItsExchangesDailyLimit(code: String, name: String, percent: Int) {
        #expect(DailyLimit.of(code: code).percent == Int64(percent), "\(name)")
    }

    @Test(arguments: [
        // 1.15 × 1.1 = 1.265 exactly, which binary arithmetic gives as 1.2649999…
        (1.15, 10, 1.04, 1.27),
        (10.05, 10, 9.05, 11.06),
        (255.8, 20, 204.64, 306.96),
        (9.99, 30, 6.99, 12.99),
        (3.15, 5, 2.99, 3.31),
        (0.01, 10, 0.01, 0.01),
    ])
    func limitPricesArePreviousCloseTimesTheLimitRoundedHalfUpToTheCent(
        prevClose: Double, percent: Int, lowest: Double, highest: Double
    ) {
        let prices = DailyLimit(percent: Int64(percent)).prices(around: prevClose)
        #expect(prices.lowest == lowest && prices.highest == highest, "\(prices)")
    }
}
