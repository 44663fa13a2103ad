"""Run by test_superset_response_cache.py with Superset's own Python (Flask, flask-login):
the response cache's hooks on a small Flask app with two logins. Exits non-zero on a
failed check and prints what it checked."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from flask import Flask, Response, jsonify, request
from flask_login import LoginManager, UserMixin, login_user

spec = importlib.util.spec_from_file_location("cache", sys.argv[1])
cache_module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
sys.modules["cache"] = cache_module
spec.loader.exec_module(cache_module)  # type: ignore[union-attr]

app = Flask("check")
app.secret_key = "check"
logins = LoginManager(app)
computed: list[str] = []


class User(UserMixin):
    def __init__(self, user_id: str) -> None:
        self.id = user_id
        self.username = user_id


@logins.user_loader
def load(user_id: str) -> User:
    return User(user_id)


@app.post("/login/<name>")
def log_in(name: str) -> str:
    login_user(User(name))
    return "ok"


@app.post("/api/v1/chart/data")
def chart_data() -> Response:
    computed.append(request.get_json()["who"] if request.is_json else "form")
    if request.args.get("csv"):
        return Response(
            "a,b\n1,2\n",
            mimetype="text/csv",
            headers={"Content-Disposition": "attachment; filename=plan.csv"},
        )
    if request.args.get("stream"):
        return Response((chunk for chunk in ["{", "}"]), mimetype="application/json")
    return jsonify({"n": len(computed), "user": request.get_json()["who"]})


cache_module.install(app, 5.0)
alice, bob = app.test_client(), app.test_client()
alice.post("/login/alice")
bob.post("/login/bob")
body = {"who": "x", "force": False}
first = alice.post("/api/v1/chart/data", json=body).get_json()
again = alice.post("/api/v1/chart/data", json=body).get_json()
other = bob.post("/api/v1/chart/data", json=body).get_json()
assert first == again, ("the same login asked twice and it was computed twice", first, again)
assert other["n"] != first["n"], "bob got alice's answer"
forced = alice.post("/api/v1/chart/data", json={**body, "force": True}).get_json()
assert forced["n"] > other["n"], "a forced refresh was answered from memory"
api = alice.post("/api/v1/chart/data", json=body, headers={"Authorization": "Bearer t"}).get_json()
assert api["n"] > forced["n"], "a request with an Authorization header was answered from memory"
for _ in range(2):
    csv = alice.post("/api/v1/chart/data?csv=true", json=body)
    assert csv.headers.get("Content-Disposition") == "attachment; filename=plan.csv", csv.headers
streamed = [alice.post("/api/v1/chart/data?stream=1", json=body) for _ in range(2)]
assert all(r.status_code == 200 and r.get_data() == b"{}" for r in streamed), (
    "streamed answer broke"
)
anonymous = app.test_client().post("/api/v1/chart/data", json=body)
assert anonymous.status_code == 200
print(f"ok: {len(computed)} computed for 10 requests", Path(sys.argv[1]).name)
