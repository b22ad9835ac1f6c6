"""Message templates: jinja2's sandbox, strict undefined, per rule, audience and language.

Layout under the rule pack (compliance owns it)::

    templates/<template>/<audience>.<language>.j2   one rule's (or schedule step's) text
    templates/_default/<audience>.<language>.j2     any rule without its own
    templates/_group/<audience>.<language>.j2       several alerts to one person at once
    templates/_subject.<language>.j2                subject line (email, robots, console)
    templates/_followup.<language>.j2               staff messages: the follow-up link and
                                                    SMS reply codes, when links are on

A language is looked up in order: the audience's configured language, the customer's,
then zh-CN; a rule's own template in any of them wins over ``_default``. Loading checks
every template: it must compile, render against a sample alert whose facts are all
long amounts, and, for audiences reached by SMS, fit ``max_segments``. A template that
fails is refused at load, with its file and the reason, before any customer can see it.

Templates see only what is in :class:`RenderContext`; the account number is already
masked, and customer texts are checked once more after rendering for any full number.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment

from churnwatch.notifiers.exceptions import TemplateError
from churnwatch.notifiers.filters import FILTERS
from churnwatch.notifiers.masking import mask_digits
from churnwatch.notifiers.sms import count_segments

__all__ = ["LANGUAGES", "RenderContext", "Rendered", "TemplateBook"]

LANGUAGES = ("zh-CN", "en")
AUDIENCES = ("customer", "relationship_manager", "branch_head", "executive")
DEFAULT = "_default"
GROUP = "_group"
#: appended to staff messages that carry a follow-up link (``churnwatch web``)
FOLLOW_UP = "_followup"
_STAFF_ABOVE_MANAGER = ("branch_head", "executive")
_LONG_DIGITS = re.compile(r"\d{8,}")


@dataclass(frozen=True)
class RenderContext:
    """Everything a template may read, built by the pipeline for one delivery."""

    template: str
    rule_id: str
    audience: str
    languages: tuple[str, ...]
    alert: Mapping[str, Any]
    facts: Mapping[str, Any]
    customer: Mapping[str, Any]
    recipient: Mapping[str, Any]
    account: str
    actions: Sequence[str] = ()
    sensitive: tuple[str, ...] = field(default=(), repr=False)

    def variables(self) -> dict[str, Any]:
        return {
            "alert": self.alert,
            "facts": self.facts,
            "customer": self.customer,
            "recipient": self.recipient,
            "account": self.account,
            "actions": list(self.actions),
            "audience": self.audience,
        }


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    language: str
    segments: int
    template: str


class _SampleFacts(dict[str, Any]):
    """Facts for the load check: every fact exists and is as long as a real one gets."""

    def __missing__(self, key: str) -> str:
        return {"tier": "private", "share": "0.9999", "share_of_peak": "0.9999"}.get(
            key, "99999999.99"
        )


class TemplateBook:
    """The loaded, checked templates of one rule pack."""

    def __init__(
        self,
        directory: Path,
        *,
        sms_audiences: frozenset[str] = frozenset({"customer"}),
        max_segments: int = 3,
    ) -> None:
        self.directory = directory
        self.sms_audiences = sms_audiences
        self.max_segments = max_segments
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(FILTERS)
        self.names = self._index()
        self._check()

    def _index(self) -> frozenset[str]:
        if not self.directory.is_dir():
            raise TemplateError(f"the template directory {self.directory} does not exist")
        return frozenset(
            p.relative_to(self.directory).as_posix() for p in self.directory.rglob("*.j2")
        )

    def _template(self, name: str) -> jinja2.Template:
        try:
            return self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"{self.directory / name}:{exc.lineno}: template syntax error: {exc.message}"
            ) from exc

    def _check(self) -> None:
        missing = [
            f"{DEFAULT}/{a}.{lang}.j2"
            for a in AUDIENCES
            for lang in LANGUAGES
            if f"{DEFAULT}/{a}.{lang}.j2" not in self.names
        ]
        missing += [
            f"_subject.{lang}.j2" for lang in LANGUAGES if f"_subject.{lang}.j2" not in self.names
        ]
        if missing:
            raise TemplateError(f"{self.directory}: missing template(s): {', '.join(missing)}")
        for name in sorted(self.names):
            template = self._template(name)
            parts = name.split("/")
            if len(parts) != 2:
                continue
            folder, file = parts
            audience, _, language = file.removesuffix(".j2").partition(".")
            if audience not in AUDIENCES or language not in LANGUAGES:
                raise TemplateError(
                    f"{self.directory / name}: name it <audience>.<language>.j2 with an "
                    f"audience of {', '.join(AUDIENCES)} and a language of {', '.join(LANGUAGES)}"
                )
            for sample_name in SAMPLE_NAMES:  # a Chinese name forces UCS-2 in any language
                sample = _sample(folder, audience, language, sample_name)
                if folder == GROUP:
                    variables = {**sample.variables(), "messages": ["x" * 60] * 3, "count": 3}
                else:
                    variables = sample.variables()
                text = self._render(template, variables, name)
                if folder == GROUP or audience not in self.sms_audiences:
                    continue
                count = count_segments(text)
                if count.segments > self.max_segments:
                    raise TemplateError(
                        f"{self.directory / name}: needs {count.segments} SMS segments "
                        f"({count.units} {count.encoding} characters with the customer name "
                        f"{sample_name!r} and 8-digit amounts) but at most "
                        f"{self.max_segments} are allowed; shorten it"
                    )

    def _render(self, template: jinja2.Template, variables: Mapping[str, Any], name: str) -> str:
        try:
            return template.render(variables).strip()
        except jinja2.UndefinedError as exc:
            raise TemplateError(f"{self.directory / name}: {exc.message}") from exc
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"{self.directory / name}: not allowed: {exc}") from exc
        except Exception as exc:
            raise TemplateError(
                f"{self.directory / name}: does not render ({type(exc).__name__}: {exc})"
            ) from exc

    def choose(self, folder: str, audience: str, languages: Sequence[str]) -> tuple[str, str]:
        """The file and language for a message: the rule's own first, then ``_default``.

        A branch head or executive without a text of their own for the rule gets the
        relationship manager's: it says what happened in manager terms.
        """
        chain = [lang for lang in dict.fromkeys([*languages, "zh-CN"]) if lang in LANGUAGES]
        candidates = [(folder, audience)]
        if audience in _STAFF_ABOVE_MANAGER and folder != GROUP:
            candidates.append((folder, "relationship_manager"))  # a manager text fits them too
        candidates.append((DEFAULT, audience))
        for candidate, who in candidates:
            for language in chain:
                name = f"{candidate}/{who}.{language}.j2"
                if name in self.names:
                    return name, language
        raise TemplateError(f"no template for {folder!r} and audience {audience!r}")

    def render(self, context: RenderContext) -> Rendered:
        """Render one delivery's subject and body; refuse a customer text with a full number."""
        name, language = self.choose(context.template, context.audience, context.languages)
        variables = context.variables()
        body = self._render(self._template(name), variables, name)
        subject = self._render(
            self._template(f"_subject.{language}.j2"), variables, f"_subject.{language}.j2"
        )
        footer = f"{FOLLOW_UP}.{language}.j2"
        if (
            context.audience != "customer"
            and context.recipient.get("link")
            and (footer in self.names)
        ):
            body = body.rstrip() + "\n" + self._render(self._template(footer), variables, footer)
        if context.audience == "customer":
            _refuse_full_numbers(body, context.sensitive, name)
        segments = count_segments(body).segments if context.audience in self.sms_audiences else 0
        if segments > self.max_segments:
            raise TemplateError(
                f"{name}: this message needs {segments} SMS segments, more than {self.max_segments}"
            )
        return Rendered(subject, body, language, segments, name)

    def render_group(
        self, audience: str, language: str, bodies: Sequence[str], recipient: Mapping[str, Any]
    ) -> str:
        """One message for several alerts to the same person (group_wait)."""
        name, _ = self.choose(GROUP, audience, [language])
        variables = {"messages": list(bodies), "count": len(bodies), "recipient": recipient}
        return self._render(self._template(name), variables, name)


def _refuse_full_numbers(body: str, sensitive: Sequence[str], name: str) -> None:
    for value in sensitive:
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 8 and digits in re.sub(r"[\s-]", "", body):
            raise TemplateError(f"{name}: the customer text would show a full account number")
    if _LONG_DIGITS.search(body):
        raise TemplateError(f"{name}: the customer text would show a long number (8+ digits)")


#: customer names the load check renders with: the longest usual Chinese and Latin ones
SAMPLE_NAMES = ("欧阳娜娜", "Alexandra Montgomery")


def _sample(folder: str, audience: str, language: str, name: str) -> RenderContext:
    local = dt.datetime(2026, 12, 31, 23, 59)
    return RenderContext(
        template=folder,
        rule_id=folder,
        audience=audience,
        languages=(language,),
        alert={
            "rule_id": "sample-rule-id-long",
            "title": "Sample alert title of a realistic length",
            "severity": "critical",
            "occurred_at": local,
            "detected_at": local,
            "facts": _SampleFacts(),
        },
        facts=_SampleFacts(),
        customer={
            "name": name,
            "tier": "private",
            "language": language,
            "phone": mask_digits("+8613800001234"),
            "branch_id": "BR-0001",
            "id": "C-000000001",
        },
        recipient={
            "name": name,
            "id": "S-0001",
            "link": "https://churnwatch.bank.example/a/" + "x" * 64,
            "ref": "3f9a2c",
        },
        account=mask_digits("6222020000001234"),
        actions=["Call the customer today and ask what the money is for."] * 2,
    )
