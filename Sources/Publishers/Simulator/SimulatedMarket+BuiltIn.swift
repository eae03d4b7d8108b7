/// `Config/signals.json` as shipped, built into the binary: the market the simulator trades when it
/// runs where there is no such file (`WorkingDirectory=/var/lib/brokerd`, say). A Swift string
/// rather than a SwiftPM resource, which is a bundle beside the binary that installing the binary
/// alone leaves behind. `SimulatorTests` fails when it and the file differ: change both.
extension SimulatedMarket {
    static let builtInSignals = #"""
        {
          "strategies": [
            {
              "name": "volume_wave",
              "signal_date": "2026-11-20",
              "signals": [
                {"code": "600519", "name": "贵州茅台", "prev_close": 1685.00, "reason": "放量突破"},
                {"code": "000858", "name": "五粮液", "prev_close": 128.50, "reason": "量价齐升"},
                {"code": "601318", "name": "中国平安", "prev_close": 52.30, "reason": "放量突破"},
                {"code": "600036", "name": "招商银行", "prev_close": 43.10, "reason": "底部放量"},
                {"code": "000001", "name": "平安银行", "prev_close": 11.20, "reason": "底部放量"},
                {"code": "300750", "name": "宁德时代", "prev_close": 255.80, "reason": "量价齐升"},
                {"code": "002594", "name": "比亚迪", "prev_close": 285.00, "reason": "放量突破"},
                {"code": "600276", "name": "恒瑞医药", "prev_close": 48.70, "reason": "底部放量"},
                {"code": "000333", "name": "美的集团", "prev_close": 77.60, "reason": "量价齐升"},
                {"code": "601012", "name": "隆基绿能", "prev_close": 18.90, "reason": "底部放量"}
              ]
            },
            {
              "name": "breakout",
              "signal_date": "2026-11-20",
              "signals": [
                {"code": "688981", "name": "中芯国际", "prev_close": 88.50, "reason": "平台突破"},
                {"code": "300059", "name": "东方财富", "prev_close": 22.40, "reason": "平台突破"},
                {"code": "601899", "name": "紫金矿业", "prev_close": 17.80, "reason": "创新高"},
                {"code": "600900", "name": "长江电力", "prev_close": 29.30, "reason": "创新高"},
                {"code": "600519", "name": "贵州茅台", "prev_close": 1685.00, "reason": "平台突破"},
                {"code": "430047", "name": "诺思兰德", "prev_close": 15.60, "reason": "北交所异动"},
                {"code": "830799", "name": "艾融软件", "prev_close": 45.20, "reason": "北交所异动"}
              ]
            }
          ]
        }
        """#
}
