"""churnwatch: real-time churn early warning for retail banks.

One import name for the whole distribution. The subpackages live in the repository's
top-level folders (``streams/``, ``rules/``, ``notifiers/``, ``schemas/``, ``followup/``),
mapped here by the build configuration; the layer order they follow is written down in
``tests/test_layers.py``.
"""
