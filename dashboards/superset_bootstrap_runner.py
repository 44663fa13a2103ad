"""Run Superset's own setup commands in one interpreter (executed by the Superset venv).

``superset db upgrade``, ``superset fab create-admin`` and ``superset init`` each spend
about 8 s importing Superset; invoking the same click commands in one process with a
shared app cuts a cold bootstrap from ~41 s to ~18 s. The admin password comes from
the environment (``ERPBI_SUPERSET_ADMIN_PASSWORD``), never from the command line, so
it does not show up in ``ps``. This file imports nothing of ours: it runs where only
Superset is installed. Started by :func:`dashboards.superset_service.bootstrap_metadata`.
"""

from __future__ import annotations

import os
import sys
import time


def _step(name: str, started: float) -> None:
    print(f"erpbi-bootstrap: {name} done in {time.monotonic() - started:.1f}s", file=sys.stderr)


def main() -> int:
    from flask.cli import ScriptInfo  # type: ignore[import-not-found]
    from superset.cli.main import create_app, superset  # type: ignore[import-not-found]

    username = os.environ["ERPBI_SUPERSET_ADMIN_USER"]
    password = os.environ["ERPBI_SUPERSET_ADMIN_PASSWORD"]
    info = ScriptInfo(create_app=create_app)  # one app shared by all commands

    def run(*args: str) -> None:
        started = time.monotonic()
        superset.main(args=list(args), obj=info, standalone_mode=False, prog_name="superset")
        _step(" ".join(args[:2]), started)

    run("db", "upgrade")

    app = info.load_app()
    with app.app_context():
        from superset import security_manager  # type: ignore[import-not-found]
        from werkzeug.security import check_password_hash  # type: ignore[import-not-found]

        user = security_manager.find_user(username=username)
        if user is None:
            run(
                "fab",
                "create-admin",
                "--username",
                username,
                "--firstname",
                "ERP",
                "--lastname",
                "Admin",
                "--email",
                f"{username}@localhost",
                "--password",
                password,
            )
        elif not check_password_hash(user.password, password):
            security_manager.reset_password(user.id, password)
            print("erpbi-bootstrap: admin password updated", file=sys.stderr)
        else:
            print("erpbi-bootstrap: admin exists, create-admin skipped", file=sys.stderr)

    run("init")
    return 0


if __name__ == "__main__":
    sys.exit(main())
