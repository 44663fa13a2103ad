"""Run by test_superset_response_cache.py with Superset's own Python (Flask, flask-login):
the response cache's middleware in front of a small Flask app with three logins. Exits
non-zero on a failed check and prints what it checked."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from flask import Flask, Response, jsonify, request, session
from flask_compress import Compress
from flask_login import LoginManager, UserMixin, login_user

spec = importlib.util.spec_from_file_location("cache", sys.argv[1])
cache_module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
sys.modules["cache"] = cache_module
spec.loader.exec_module(cache_module)  # type: ignore[union-attr]

app = Flask("check")
app.secret_key = "check"
app.config["COMPRESS_MIN_SIZE"] = 0
Compress(app)  # as Superset does: gzip for those who accept it
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
    who = request.get_json()["who"] if request.is_json else request.form.get("who", "form")
    computed.append(who)
    session["asked"] = len(computed)  # Flask sends this session's cookie again
    if request.args.get("csv"):
        download = {"Content-Disposition": "attachment; filename=plan.csv"}
        return Response("a,b\n1,2\n", mimetype="text/csv", headers=download)
    if request.args.get("stream"):
        return Response((chunk for chunk in ["{", "}"]), mimetype="application/json")
    if request.args.get("fail"):
        return Response('{"message": "broken"}', status=500, mimetype="application/json")
    return jsonify({"n": len(computed), "user": who})


def check(condition: bool, message: str, *shown: object) -> None:
    if not condition:
        print("FAILED:", message, *shown, file=sys.stderr)
        sys.exit(1)


cache_module.install(app, 5.0, Path(sys.argv[2]), shares_answers=lambda name: name != "owner")
alice, bob, owner = app.test_client(), app.test_client(), app.test_client()
for client, name in ((alice, "alice"), (bob, "bob"), (owner, "owner")):
    client.post(f"/login/{name}")
body = {"who": "x", "force": False}
URL = "/api/v1/chart/data"
first = alice.post(URL, json=body)
again = alice.post(URL, json=body)
check(first.get_json() == again.get_json(), "one login asked twice: computed twice",
      first.get_json(), again.get_json())  # fmt: skip
check("Set-Cookie" in first.headers and "Set-Cookie" not in again.headers,
      "a kept answer carried a session cookie", again.headers)  # fmt: skip
other = bob.post(URL, json=body).get_json()
check(other["n"] != first.get_json()["n"], "bob got alice's answer")
forced = alice.post(URL, json={**body, "force": True}).get_json()
check(forced["n"] > other["n"], "a forced refresh was answered from memory")
api = alice.post(URL, json=body, headers={"Authorization": "Bearer t"}).get_json()
check(api["n"] > forced["n"], "a request with an Authorization header was answered from memory")
for _ in range(2):
    csv = alice.post(f"{URL}?csv=true", json=body)
    check(csv.headers.get("Content-Disposition") == "attachment; filename=plan.csv",
          "a CSV download lost its file name", csv.headers)  # fmt: skip
before = len(computed)
exported = [alice.post(URL, json={**body, "result_format": "csv"}) for _ in range(2)]
check(len(computed) == before + 2, "an export in the body was answered from memory")
streamed = [alice.post(f"{URL}?stream=1", json=body) for _ in range(2)]
check(all(r.status_code == 200 and r.get_data() == b"{}" for r in streamed), "streamed broke")
before = len(computed)
owned = [owner.post(URL, json=body).get_json()["n"] for _ in range(3)]
check(len(computed) == before + 3, "a shop owner's answer was shared", owned)
before = len(computed)
for boundary in ("----WebKitFormBoundaryA", "----WebKitFormBoundaryB"):
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"who\"\r\n\r\nmap\r\n"
            f"--{boundary}--\r\n").encode()  # fmt: skip
    answer = alice.post(URL, data=form,
                        content_type=f"multipart/form-data; boundary={boundary}")  # fmt: skip
    check(answer.get_json()["user"] == "map", "the form did not reach the app", answer.data)
check(len(computed) == before + 1, "one form with two boundaries was computed twice")
before = len(computed)
for _ in range(2):
    alice.post(URL, data={"form_data": '{"result_format": "csv"}', "who": "export"})
check(len(computed) == before + 2, "a form asking for a CSV was answered from memory")
before = len(computed)
failed = [alice.post(f"{URL}?fail=1", json=body).status_code for _ in range(2)]
check(failed == [500, 500], "an error answer changed", failed)
before = len(computed)
zipped = [alice.post(URL, json=body, headers={"Accept-Encoding": "gzip"}) for _ in range(2)]
check(len(computed) == before + 1, "a compressed answer was computed twice")
check(all(r.headers.get("Content-Encoding") == "gzip" for r in zipped), "gzip lost", zipped)
plain = alice.post(URL, json=body)
check("Content-Encoding" not in plain.headers, "gzip went to a client that did not ask for it")
anonymous = app.test_client().post(URL, json=body)
check(anonymous.status_code == 200, "an anonymous request broke", anonymous.status_code)
print(f"ok: {len(computed)} computed for 24 requests", Path(sys.argv[1]).name)
