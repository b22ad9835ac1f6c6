"""Message templates: jinja2's sandbox, strict undefined, per rule, audience and language.

Layout under the rule pack (compliance owns it)::

    templates/<template>/<audience>.<language>.j2   one rule's (or schedule step's) text
    templates/_default/<audience>.<language>.j2     any rule without its own
    templates/_group/<audience>.<language>.j2       several alerts to one person at once
    templates/_subject.<language>.j2                subject line (email, robots, console)
    templates/_followup.<language>.j2               staff messages: the follow-up link
    templates/_reply.<language>.j2                  SMS reply codes, only in staff texts by SMS
    templates/<template>/what.<language>.j2         "what happened" in one sentence, shown in
                                                    staff messages (``what``) and on the page

Texts see the reader's ``language``; the filters format numbers, dates and durations for
it with Babel and name severities, tiers, products and transaction kinds with the pack's
``words.yaml``. A rule's title and suggested actions arrive in the same language.

A language is looked up in the order the pipeline gives (for staff: the person's own
language, the audience's, routing's ``staff_language``; for customers: the audience's,
then the customer's), then zh-CN; a rule's own template in any of them wins over
``_default``. Loading checks every template: it must compile, render against a sample
alert whose facts are all long amounts, and, for audiences reached by SMS, fit
``max_segments``. A template that fails is refused at load, with its file and the
reason, before any customer can see it.

Templates see only what is in :class:`RenderContext`; the account number is already
masked, and customer texts are checked once more after rendering for any full number.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2

from churnwatch.notifiers.exceptions import TemplateError
from churnwatch.notifiers.filters import filters_for
from churnwatch.notifiers.grouping import by_customer
from churnwatch.notifiers.rendering import RenderContext, Rendered
from churnwatch.notifiers.samples import (
    SAMPLE_NAMES,
    alert_sample,
    group_sample,
    morning_sample,
)
from churnwatch.notifiers.sandbox import BoundedEnvironment, render_bounded
from churnwatch.notifiers.sms import count_segments
from churnwatch.rules.texts import Words, load_words

__all__ = ["LANGUAGES", "TemplateBook"]

LANGUAGES = ("zh-CN", "en")
AUDIENCES = ("customer", "relationship_manager", "branch_head", "executive")
DEFAULT = "_default"
GROUP = "_group"
#: the relationship manager's morning list (followup/morning/): one message a day
MORNING = "_morning"
#: appended to staff messages that carry a follow-up link (``churnwatch web``)
FOLLOW_UP = "_followup"
#: appended to staff messages sent by SMS: the reply codes (never in WeCom or email)
REPLY = "_reply"
#: the "what happened" sentence of a rule, beside its audience texts
WHAT = "what"
_STAFF_ABOVE_MANAGER = ("branch_head", "executive")
_LONG_DIGITS = re.compile(r"\d{8,}")


class TemplateBook:
    """The loaded, checked templates of one rule pack."""

    def __init__(
        self,
        directory: Path,
        *,
        sms_audiences: frozenset[str] = frozenset({"customer"}),
        max_segments: int = 3,
        words: Words | None = None,
    ) -> None:
        self.directory = directory
        #: the pack's vocabulary; by default ``words.yaml`` beside the template directory
        self.words = words if words is not None else load_words(directory.parent)
        self.sms_audiences = sms_audiences
        self.max_segments = max_segments
        #: no automatic reloading: what the load checked is what runs until the next load
        self.env = BoundedEnvironment(
            loader=jinja2.FileSystemLoader(str(directory)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.add_filters(filters_for(self.words))
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
        except (RecursionError, MemoryError, jinja2.exceptions.SecurityError) as exc:
            raise TemplateError(f"{self.directory / name}: cannot be compiled ({exc})") from exc

    def _check(self) -> None:
        """Compile and render every template; raise one TemplateError listing every problem."""
        missing = [
            f"{DEFAULT}/{a}.{lang}.j2"
            for a in AUDIENCES
            for lang in LANGUAGES
            if f"{DEFAULT}/{a}.{lang}.j2" not in self.names
        ]
        missing += [
            f"_subject.{lang}.j2" for lang in LANGUAGES if f"_subject.{lang}.j2" not in self.names
        ]
        problems: list[str] = []
        if missing:
            problems.append(f"{self.directory}: missing template(s): {', '.join(missing)}")
        for name in sorted(self.names):
            try:
                self._check_one(name)
            except TemplateError as exc:
                problems.append(str(exc))
        if problems:
            raise TemplateError("\n".join(problems), problems)

    def _check_one(self, name: str) -> None:
        template = self._template(name)
        parts = name.split("/")
        if len(parts) != 2:
            return
        folder, file = parts
        audience, _, language = file.removesuffix(".j2").partition(".")
        if (audience not in AUDIENCES and audience != WHAT) or language not in LANGUAGES:
            raise TemplateError(
                f"{self.directory / name}: name it <audience>.<language>.j2 (or "
                f"{WHAT}.<language>.j2) with an audience of {', '.join(AUDIENCES)} "
                f"and a language of {', '.join(LANGUAGES)}"
            )
        for sample_name in SAMPLE_NAMES:  # a Chinese name forces UCS-2 in any language
            sample = alert_sample(folder, audience, language, sample_name)
            variables = {**sample.variables(language, self.words), WHAT: "x" * 60}
            if folder == GROUP:
                variables = {**variables, **group_sample(sample_name)}
            if folder == MORNING:
                variables = morning_sample(language, sample_name)
            text = self._render(template, variables, name)
            if folder not in (GROUP, MORNING) and audience != WHAT:
                self._fits(text, name, audience, sample_name)

    def _fits(self, text: str, name: str, audience: str, sample_name: str) -> None:
        if audience not in self.sms_audiences:
            return
        count = count_segments(text)
        if count.segments > self.max_segments:
            raise TemplateError(
                f"{self.directory / name}: needs {count.segments} SMS segments "
                f"({count.units} {count.encoding} characters with the customer name "
                f"{sample_name!r} and 8-digit amounts) but at most "
                f"{self.max_segments} are allowed; shorten it"
            )

    def check_rule(
        self,
        folder: str,
        audiences: Sequence[str],
        samples: Sequence[Mapping[str, Any] | None],
        rule_id: str,
    ) -> list[str]:
        """Render what one rule would send, with facts it really produces; list the problems.

        ``samples`` are facts of alerts the rule raised (e.g. in its own test cases):
        the facts are exactly those, under strict undefined, so a template that names a
        fact the rule does not have (``facts.amout``) is refused here, not at send time.
        Every audience and language is rendered, the "what happened" sentence, subject
        and footers included, and texts for SMS audiences must fit in ``max_segments``.
        """
        problems: list[str] = []
        for audience in audiences:
            for language in LANGUAGES:
                try:
                    self._check_message(folder, audience, language, samples, rule_id)
                except TemplateError as exc:
                    if str(exc) not in problems:
                        problems.append(str(exc))
        return problems

    def _check_message(
        self,
        folder: str,
        audience: str,
        language: str,
        samples: Sequence[Mapping[str, Any] | None],
        rule_id: str,
    ) -> None:
        name, chosen = self.choose(folder, audience, [language])
        footers = [f"{f}.{chosen}.j2" for f in (FOLLOW_UP, REPLY)] if audience != "customer" else []
        names = [name, f"_subject.{chosen}.j2", *(f for f in footers if f in self.names)]
        # the rule's own sentences strictly: at send time a failing one quietly falls back
        names += [
            f"{each}/{WHAT}.{chosen}.j2"
            for each in dict.fromkeys([folder, rule_id])
            if f"{each}/{WHAT}.{chosen}.j2" in self.names
        ]
        for facts in samples or [None]:
            for sample_name in SAMPLE_NAMES:
                sample = alert_sample(
                    folder, audience, chosen, sample_name, facts=facts, rule_id=rule_id
                )
                what = self.what(sample, chosen) if audience != "customer" else ""
                variables = {**sample.variables(chosen, self.words), WHAT: what}
                for each in names:
                    text = self._render(self._template(each), variables, each)
                    if each == name:
                        self._fits(text, name, audience, sample_name)

    def _render(self, template: jinja2.Template, variables: Mapping[str, Any], name: str) -> str:
        try:
            return render_bounded(template, variables).strip()
        except jinja2.UndefinedError as exc:
            where = _where(self.directory / name, exc, template)
            raise TemplateError(f"{where}: {exc.message}") from exc
        except jinja2.exceptions.SecurityError as exc:
            where = _where(self.directory / name, exc, template)
            raise TemplateError(f"{where}: not allowed: {exc}") from exc
        except Exception as exc:
            where = _where(self.directory / name, exc, template)
            raise TemplateError(f"{where}: does not render ({type(exc).__name__}: {exc})") from exc

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

    def what(self, context: RenderContext, language: str) -> str:
        """The rule's "what happened" sentence in ``language``: its step's, its own, or the default.

        An alert whose facts a sentence cannot be filled from (an older rule version, say)
        gets the next one down rather than no message at all.
        """
        for folder in dict.fromkeys([context.template, context.rule_id, DEFAULT]):
            for lang in dict.fromkeys([language, "zh-CN"]):
                name = f"{folder}/{WHAT}.{lang}.j2"
                if name not in self.names:
                    continue
                try:
                    return self._render(
                        self._template(name), context.variables(lang, self.words), name
                    )
                except TemplateError:
                    if folder == DEFAULT:
                        raise
                    break
        return ""

    def render(self, context: RenderContext, *, sms: bool = False) -> Rendered:
        """Render one delivery's subject and body; refuse a customer text with a full number.

        ``sms``: a staff text going out by SMS also carries the reply codes.
        """
        name, language = self.choose(context.template, context.audience, context.languages)
        variables = {
            **context.variables(language, self.words),
            WHAT: self.what(context, language) if context.audience != "customer" else "",
        }
        body = self._render(self._template(name), variables, name)
        subject = self._render(
            self._template(f"_subject.{language}.j2"), variables, f"_subject.{language}.j2"
        )
        footer_lines: list[str] = []
        if context.audience != "customer" and context.recipient.get("link"):
            footers = [FOLLOW_UP, REPLY] if sms else [FOLLOW_UP]
            for footer in (f"{f}.{language}.j2" for f in footers):
                if footer in self.names:
                    text = self._render(self._template(footer), variables, footer)
                    body = body.rstrip() + "\n" + text
                    footer_lines.append(text)
        if context.audience == "customer":
            _refuse_full_numbers(body, context.sensitive, name)
        segments = count_segments(body).segments if context.audience in self.sms_audiences else 0
        if segments > self.max_segments:
            raise TemplateError(
                f"{name}: this message needs {segments} SMS segments, more than {self.max_segments}"
            )
        return Rendered(
            subject,
            body,
            language,
            segments,
            name,
            title=str(variables["alert"].get("title") or ""),
            what=str(variables[WHAT]),
            footer="\n".join(footer_lines),
        )

    def render_group(
        self,
        audience: str,
        language: str,
        payloads: Sequence[Mapping[str, Any]],
        recipient: Mapping[str, Any],
    ) -> str:
        """One message for several alerts to the same person (group_wait).

        The text sees ``customers`` (each with its ``alerts``, by time, see
        ``notifiers/grouping.py``), ``messages`` (every alert's whole text, by time),
        ``count`` and ``recipient``.
        """
        name, language = self.choose(GROUP, audience, [language])
        customers = by_customer(payloads)
        variables = {
            "customers": customers,
            "messages": [str(p.get("body", "")) for p in payloads],
            "count": len(payloads),
            "recipient": recipient,
            "language": language,
        }
        return self._render(self._template(name), variables, name)

    def render_morning(self, language: str, variables: Mapping[str, Any]) -> Rendered:
        """The morning list's message (``_morning/relationship_manager.<language>.j2``):
        its first line is the subject; no reply codes, whatever the channel."""
        name, language = self.choose(MORNING, "relationship_manager", [language])
        if not name.startswith(MORNING + "/"):
            raise TemplateError(f"{self.directory}: no {MORNING}/relationship_manager template")
        body = self._render(self._template(name), {**variables, "language": language}, name)
        return Rendered(body.splitlines()[0] if body else "", body, language, 0, name)


def _where(path: Path, exc: BaseException, template: jinja2.Template) -> str:
    """``path:line`` of the template line that failed (jinja maps its frames to lines)."""
    line = None
    trace = exc.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == template.filename:
            line = trace.tb_lineno
        trace = trace.tb_next
    return f"{path}:{line}" if line else str(path)


def _refuse_full_numbers(body: str, sensitive: Sequence[str], name: str) -> None:
    for value in sensitive:
        digits = re.sub(r"\D", "", value)
        if len(digits) >= 8 and digits in re.sub(r"[\s-]", "", body):
            raise TemplateError(f"{name}: the customer text would show a full account number")
    if _LONG_DIGITS.search(body):
        raise TemplateError(f"{name}: the customer text would show a long number (8+ digits)")
