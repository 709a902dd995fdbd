"""From a department's indicator text to the case's risk types (风险类型).

Departments name their indicators freely (高额医疗自付, 疑似辍学, 新纳入低保 …). When a
village files a case from a clue, its risk types are pre-filled from the evidence; the cadre
can change them. Keywords are tried in order; the first that appears in the text decides.
"""

from monitor.choices import MAX_RISK_TYPES

KEYWORD_RISK: list[tuple[str, str]] = [
    ("洪", "0201"),
    ("涝", "0201"),
    ("滑坡", "0202"),
    ("泥石流", "0202"),
    ("地质", "0202"),
    ("旱", "0203"),
    ("病虫", "0204"),
    ("冰雹", "0205"),
    ("雪灾", "0205"),
    ("风灾", "0205"),
    ("地震", "0206"),
    ("灾", "02"),
    ("残", "03"),
    ("医疗", "01"),
    ("病", "01"),
    ("住院", "01"),
    ("辍学", "09"),
    ("失学", "09"),
    ("学", "09"),
    ("事故", "05"),
    ("意外", "05"),
    ("伤", "05"),
    ("失业", "07"),
    ("欠薪", "07"),
    ("务工", "07"),
    ("就业", "07"),
    ("产业", "06"),
    ("经营", "06"),
    ("死亡", "04"),
    ("劳动力", "04"),
]
FALLBACK = "99"


def risk_code_for(indicator: str) -> str:
    for keyword, code in KEYWORD_RISK:
        if keyword in indicator:
            return code
    return FALLBACK


def risk_codes_for(indicators: list[str]) -> list[str]:
    codes = list(dict.fromkeys(risk_code_for(text) for text in indicators if text))
    return codes[:MAX_RISK_TYPES] or [FALLBACK]
