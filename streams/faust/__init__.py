"""churnwatch's worker as a faust-streaming app (``worker.runtime: faust``).

The default runtime drives aiokafka directly (``streams/worker/loop.py`` says why); this
one runs the same pipeline as a Faust agent with its state in a Faust table, for banks
that run Faust applications already, and lets them mount it in their own app
(:func:`mount`). ``streams/faust/runtime.py`` says what it keeps of the default's
promises and how.
"""

from churnwatch.streams.faust.app import build_app, faust_settings, mount, run_faust_worker
from churnwatch.streams.faust.runtime import FaustWorker

__all__ = ["FaustWorker", "build_app", "faust_settings", "mount", "run_faust_worker"]
