"""mfspec's own warnings: explicit, named, and errors in mfspec's test suite."""

from __future__ import annotations

import warnings


class MFSpecWarning(UserWarning):
    """A spec that runs but probably not as meant (e.g. a metric that means nothing for its labels)."""


def warn(message: str) -> None:
    warnings.warn(message, MFSpecWarning, stacklevel=3)
