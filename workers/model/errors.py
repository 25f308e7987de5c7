"""The one error a model's resolution raises: each invalid `model.*` field with its reason."""

from __future__ import annotations


class ModelConfigError(ValueError):
    """Invalid model fields as (field path, reason) pairs; `str()` reads "model.field reason; ..."."""

    def __init__(self, *problems: tuple[str, str]):
        self.problems = list(problems)
        super().__init__("; ".join(f"{path} {reason}" for path, reason in self.problems))
