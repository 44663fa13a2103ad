"""Specs as code: one YAML file per named thing (an alert rule, a push) in a folder."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml  # type: ignore[import-untyped]
from pydantic import BaseModel

Spec = TypeVar("Spec", bound=BaseModel)


class SpecFileError(ValueError):
    """A file that does not describe what its folder holds; names the file."""


def load_named(folder: Path, model: type[Spec], kind: str) -> dict[str, Spec]:
    """Every ``*.yaml`` in ``folder`` as ``model``, by name; a file that does not validate,
    or a second one of a name, raises :class:`SpecFileError` naming the file."""
    found: dict[str, Spec] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            spec = model.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (ValueError, yaml.YAMLError) as error:
            raise SpecFileError(f"{path.name}: {error}") from error
        name = str(getattr(spec, "name"))  # noqa: B009 - every spec model has a name
        if name in found:
            raise SpecFileError(f"{path.name}: a second {kind} named {name!r}")
        found[name] = spec
    return found
