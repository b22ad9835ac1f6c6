"""The page's words in zh-CN and en, and "what happened" in plain words per rule.

Rule titles, descriptions and suggested next steps come from the rule pack as written;
these are the page's own words. A rule without a sentence here gets its facts listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = ["LANGUAGES", "choose_language", "describe", "text"]

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

_WHAT: Final[dict[str, dict[str, str]]] = {
    "en": {
        "large-transfer-out": "{amount} was transferred to another bank in one go "
        "(the rule's threshold is {threshold}).",
        "balance-sharp-fall": "The balance at the bank fell from {peak_balance} to {balance} "
        "within {window}: down {drop}.",
        "payroll-moved-out": "Payroll of {trigger_amount} arrived and {sum_amount} of it left "
        "the bank within {within}.",
        "maturity-reminder": "A {product_kind} of {amount} matures on {maturity_date} "
        "({days_before} days from the reminder).",
        "maturity-funds-moved-out": "A product of {trigger_amount} matured and {sum_amount} "
        "moved out of the bank within {within}.",
        "tier-downgrade": "The customer's tier fell from {tier_before} to {tier_after} "
        "(assets now {aum}).",
        "sticky-product-cancelled": "A standing product (fund plan, insurance or automatic "
        "debit) was cancelled.",
    },
    "zh-CN": {
        "large-transfer-out": "客户一次性向他行转出 {amount}（规则阈值 {threshold}）。",
        "balance-sharp-fall": "{window} 内本行余额从 {peak_balance} 降至 {balance}，减少 {drop}。",
        "payroll-moved-out": "代发工资 {trigger_amount} 到账后 {within} 内转出 {sum_amount}。",
        "maturity-reminder": "{amount} 的{product_kind}将于 {maturity_date} 到期"
        "（提醒时距到期 {days_before} 天）。",
        "maturity-funds-moved-out": "到期产品 {trigger_amount}，{within} 内已转出 {sum_amount}。",
        "tier-downgrade": "客户等级从 {tier_before} 降至 {tier_after}（当前资产 {aum}）。",
        "sticky-product-cancelled": "客户取消了一项黏性产品（基金定投、保险或自动扣款）。",
    },
}


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


def _money(value: object) -> str:
    try:
        number = float(str(value))
    except ValueError:
        return str(value)
    return f"{number:,.2f}" if "." in str(value) else f"{number:,.0f}"


def describe(rule_id: str, facts: Mapping[str, object], language: str) -> str:
    """One plain sentence with the figures; the facts listed when the rule has none."""
    shown = {
        k: _money(v) if k.endswith(("amount", "balance", "threshold", "drop", "aum")) else v
        for k, v in facts.items()
    }
    pattern = _WHAT.get(language, _WHAT["zh-CN"]).get(rule_id)
    if pattern is not None:
        try:
            return pattern.format(**shown)
        except (KeyError, IndexError):
            pass
    return "; ".join(f"{k}: {v}" for k, v in shown.items() if k != "tier")
