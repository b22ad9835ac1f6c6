"""The page's own words in zh-CN and en.

Rule titles, descriptions, suggested next steps and "what happened" come from the rule
pack, in the reader's language; these are the page's own words.
"""

from __future__ import annotations

from typing import Final

__all__ = ["LANGUAGES", "choose_language", "text"]

LANGUAGES: Final = ("zh-CN", "en")

_TEXT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "customer": "Customer",
        "tier": "Tier",
        "branch": "Branch",
        "account": "Account",
        "what_happened": "What happened",
        "why": "Why this matters",
        "next_steps": "Suggested next steps",
        "history": "Earlier alerts for this customer",
        "no_history": "No earlier alerts.",
        "status": "Status",
        "acknowledge": "Acknowledge",
        "contacted": "I contacted the customer",
        "outcome": "Outcome",
        "note": "Note (optional)",
        "retained_amount": "Amount kept, if partly retained (optional)",
        "save_outcome": "Save outcome",
        "record": "Record",
        "ref": "Ref",
        "severity": "Severity",
        "detected": "Detected",
        "open": "open",
        "acknowledged": "acknowledged",
        "closed": "closed",
        "retained": "retained",
        "partly_retained": "partly retained",
        "left": "left",
        "false_alarm": "not churn (false alarm)",
        "forbidden": "This link is not valid for you, or it has expired.",
        "forbidden_title": "Link not valid",
        "saved": "Saved.",
        "report": "Follow-up report",
        "escalated": "escalated",
        "opened": "opened",
        "note_kind": "note",
    },
    "zh-CN": {
        "customer": "客户",
        "tier": "等级",
        "branch": "网点",
        "account": "账户",
        "what_happened": "发生了什么",
        "why": "为什么重要",
        "next_steps": "建议的下一步",
        "history": "该客户此前的预警",
        "no_history": "此前没有预警。",
        "status": "状态",
        "acknowledge": "确认收到",
        "contacted": "已联系客户",
        "outcome": "结果",
        "note": "备注（可选）",
        "retained_amount": "部分挽留时留存的金额（可选）",
        "save_outcome": "保存结果",
        "record": "记录",
        "ref": "编号",
        "severity": "级别",
        "detected": "发现时间",
        "open": "待处理",
        "acknowledged": "已确认",
        "closed": "已结案",
        "retained": "已挽留",
        "partly_retained": "部分挽留",
        "left": "已流失",
        "false_alarm": "非流失（误报）",
        "forbidden": "此链接对您无效或已过期。",
        "forbidden_title": "链接无效",
        "saved": "已保存。",
        "report": "跟进报告",
        "escalated": "已升级",
        "opened": "已创建",
        "note_kind": "备注",
    },
}
_TEXT["en"]["contacted_status"] = "contacted"
_TEXT["zh-CN"]["contacted_status"] = "已联系"


def choose_language(requested: str | None, accept: str | None, fallback: str = "zh-CN") -> str:
    """``?lang=`` wins, then the browser's Accept-Language, then ``fallback``."""
    if requested in LANGUAGES:
        return requested
    for part in (accept or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return fallback if fallback in LANGUAGES else "zh-CN"


def text(language: str) -> dict[str, str]:
    return _TEXT.get(language, _TEXT["zh-CN"])
