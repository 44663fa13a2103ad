"""``python -m connectors sync [--stream inventory] [--follow] [--dry-run]``."""

from __future__ import annotations

from connectors.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
