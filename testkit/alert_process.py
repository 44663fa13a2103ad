"""An `erpbi alerts run` process on a running stack, its robots pointed at local receivers:
started, waited for (its first evaluation), killed (SIGTERM or SIGKILL) and restarted
with the same state file. Used by the e2e alert tests and benchmarks/alerts_bench.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common.settings import PROJECT_ROOT, Settings
from dashboards.alerting.service import heartbeat_file
from testkit.chat_receivers import ChatReceivers

START_SECONDS = 60.0


class AlertProcess:
    def __init__(self, settings: Settings, receivers: ChatReceivers, state_file: Path,
                 every_seconds: float = 2.0, **alerts: Any) -> None:  # fmt: skip
        robots = receivers.settings()
        overrides = {
            "feishu": robots.feishu, "dingtalk": robots.dingtalk, "state_file": state_file,
            "evaluate_every_seconds": every_seconds, **alerts,
        }  # fmt: skip
        self.settings = settings.model_copy(
            update={"alerts": settings.alerts.model_copy(update=overrides)})  # fmt: skip
        self.log = state_file.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def environment(self) -> dict[str, str]:
        return {**self.settings.environment, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def start(self) -> None:
        beat = heartbeat_file(self.settings)
        beat.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "erpbi", "alerts", "run"], env=self.environment,
                cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + START_SECONDS
        while not beat.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                said = self.log.read_text()[-2000:]
                raise RuntimeError(f"the alert service did not start: {said}")
            time.sleep(0.2)

    def evaluations_seen(self) -> str:
        """The time of the last evaluation, from the service's heartbeat."""
        return str(json.loads(heartbeat_file(self.settings).read_text())["evaluated_at"])

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(how)
            self.process.wait(timeout=30)
        self.process = None
