"""The figures table the backfill benchmarks print: a title naming the machine, then one
``name  value`` row each, names aligned."""

from __future__ import annotations

import os
import platform


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"{title}: {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
