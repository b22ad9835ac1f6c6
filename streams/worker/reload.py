"""Hot reload of the rule directory: a valid change goes live, an invalid one is refused.

Each worker watches its own view of the rule directory (a mounted ConfigMap or a shared
volume), so a change reaches every worker without a restart. The watcher hashes the rule
files every ``interval`` seconds rather than relying on inotify, which does not see
ConfigMap symlink swaps or network filesystems reliably. A changed directory is loaded
in a thread; :func:`churnwatch.streams.replay.pack.load_pack` (rules and templates) is
all-or-nothing, so either the whole new set is swapped in with one assignment
(:meth:`churnwatch.rules.engine.Engine.swap`, between two batches) or nothing changes
and each problem is logged with file, line and rule.

The watcher survives every failure of a load, not only a rule-set error: an unreadable
file, a vanished directory or a bug met by a strange file is refused, logged and
counted like an invalid rule, and the rules in force stay; the next change is tried
again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from churnwatch.rules.engine import Engine
from churnwatch.rules.exceptions import RuleSetError
from churnwatch.rules.loader import DEFAULT_TIMEZONE
from churnwatch.streams.replay.pack import Pack, load_pack

if TYPE_CHECKING:
    from churnwatch.streams.worker.health import WorkerObservability

__all__ = ["RuleWatcher", "directory_digest"]

log = logging.getLogger("churnwatch.rules")


def directory_digest(directory: Path) -> str:
    """A hash of every YAML file's name and content under ``directory``."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.suffix in (".yaml", ".yml", ".j2") and path.is_file():
            digest.update(str(path.relative_to(directory)).encode())
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"<unreadable>")
    return digest.hexdigest()


class RuleWatcher:
    """Polls ``directory`` and swaps valid changes into ``engine``."""

    def __init__(
        self,
        engine: Engine,
        directory: Path,
        interval: float,
        observe: WorkerObservability | None = None,
        timezone: str = DEFAULT_TIMEZONE,
        on_reload: Callable[[Pack], None] | None = None,
    ) -> None:
        self.engine = engine
        #: told of each pack that went live (the notifications take its templates)
        self.on_reload = on_reload
        self.timezone = timezone
        self.observe = observe
        self.directory = directory
        self.interval = interval
        self.digest = directory_digest(directory)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # the watcher outlives any failure; the next change is tried
                log.exception("the rule watcher failed; the rules in force stay")

    def refused(self, count: int) -> None:
        if self.observe is not None:
            self.observe.reload_refused()
        log.error(
            "rule change refused, the active rule set %s stays: %d problem(s)",
            self.engine.ruleset.fingerprint,
            count,
        )

    async def check(self) -> bool:
        """Reload if the files changed; return True when a new rule set went live."""
        try:
            digest = await asyncio.to_thread(directory_digest, self.directory)
        except OSError as exc:
            log.error("cannot read the rule directory %s: %s", self.directory, exc)
            return False
        if digest == self.digest:
            return False
        self.digest = digest
        try:
            pack = await asyncio.to_thread(load_pack, self.directory, timezone=self.timezone)
        except RuleSetError as exc:
            self.refused(len(exc.problems))
            for problem in exc.problems:
                log.error("  %s", problem)
            return False
        except Exception as exc:  # any failure of a load refuses it; the watcher lives on
            self.refused(1)
            log.error("  %s: the load failed: %s: %s", self.directory, type(exc).__name__, exc)
            return False
        ruleset = pack.ruleset
        if ruleset.fingerprint == self.engine.ruleset.fingerprint:
            return False
        self.engine.swap(ruleset)
        if self.on_reload is not None:
            try:
                self.on_reload(pack)
            except Exception:
                log.exception("the new templates could not be handed to the notifications")
        if self.observe is not None:
            self.observe.rules_loaded(self.engine, reloaded=True)
        log.info(
            "rules reloaded: %d rules, fingerprint %s",
            len(ruleset.rules),
            ruleset.fingerprint,
        )
        return True
