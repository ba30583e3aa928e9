"""The example tour: every example request of the API reference sent, in ``tour`` order, to one server, with the
made-up ids of the examples replaced by the real ones of this run."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from openbcs.openapi.examples import examples, placeholders, tour


@dataclass
class Sent:
    """One request of the tour and its answer."""

    name: str
    method: str
    path: str
    response: httpx.Response
    expected: int


@dataclass
class Tour:
    """Sends the examples through ``http`` (any httpx-like client of one server)."""

    http: Any
    document: dict[str, Any]
    tokens: dict[str, str]  # role (inviter, invitee) -> X-Auth-Token
    admin_token: str
    live: dict[str, str]  # made-up value -> real value
    sent: list[Sent] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)

    def real(self, value: Any) -> Any:
        text = json.dumps(value)
        for made_up, actual in self.live.items():
            text = text.replace(made_up, actual)
        return json.loads(text)

    def route(self, name: str) -> tuple[str, str, dict[str, Any]]:
        for path, item in self.document["paths"].items():
            for method, operation in item.items():
                if operation["operationId"] == name:
                    return method.upper(), path, operation
        raise AssertionError(f"no operation {name} in the document")

    def headers(self, role: str) -> dict[str, str]:
        if role == "admin":
            return {"Authorization": f"Bearer {self.admin_token}"}
        if role in self.tokens:
            return {"X-Auth-Token": self.tokens[role]}
        return {}

    def send(self, role: str, method: str, path: str, request: dict[str, Any]) -> httpx.Response:
        request = self.real(request)
        headers = self.headers(role)
        content: bytes | None = None
        if "body" in request:
            content = json.dumps(request["body"]).encode()
            headers["Content-Type"] = "application/json"
        elif "text" in request:
            content = request["text"].encode()
            headers["Content-Type"] = request.get("media", "text/plain")
        elif "body_from" in request:
            content = json.dumps(self.answers[request["body_from"]]).encode()
            headers["Content-Type"] = "application/json"
        params = {k: str(v) for k, v in request.get("query", {}).items()}
        response = self.http.request(method, path, content=content, headers=headers, params=params or None)
        return response  # type: ignore[no-any-return]

    def capture(self, answer: Any, captures: dict[str, str]) -> None:
        made_up = placeholders()
        for dotted, role in captures.items():
            value = answer
            for part in dotted.split("."):
                value = next(iter(value)) if part == "$first" else value[part]
            self.live[made_up[role]] = str(value)

    def settle(self, role: str, project_id: str) -> None:
        """Wait until the project runs no operation: the example's own (its ``operation_id``), or one it started
        without naming it (agreeing to an invitation starts the join)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = []
            for status in ("waiting", "processing"):
                response = self.http.get(
                    f"/v2/{project_id}/operation/record",
                    params={"operation_status": status},
                    headers=self.headers(role),
                )
                busy += response.json()["operation_records"]
            if not busy:
                failed = self.http.get(
                    f"/v2/{project_id}/operation/record",
                    params={"operation_status": "failed"},
                    headers=self.headers(role),
                )
                assert failed.json()["operation_records"] == [], failed.text
                return
            time.sleep(0.01)
        raise AssertionError(f"operations of {project_id} did not finish")

    def step(self, name: str, role: str, method: str, path: str, request: dict[str, Any], status: int) -> Sent:
        path = self.real(path.format(**{k: str(v) for k, v in request.get("path", {}).items()}))
        response = self.send(role, method, path, request)
        sent = Sent(name, method, path, response, status)
        self.sent.append(sent)
        if response.status_code == status and response.headers.get("content-type", "").startswith("application/json"):
            self.answers[name] = response.json()
        if role in self.tokens and path.startswith("/v2/"):
            self.settle(role, path.split("/")[2])
        return sent

    def run(self) -> list[Sent]:
        every = examples()
        for entry in tour():
            if isinstance(entry, dict):
                request = {k: entry[k] for k in ("body",) if k in entry}
                sent = self.step("setup", entry["as"], entry["method"], entry["path"], request, 200)
                assert sent.response.status_code == 200, sent.response.text
                self.capture(sent.response.json(), entry.get("capture", {}))
                continue
            example = every[entry]
            method, path, operation = self.route(entry)
            status = int(next(s for s in operation["responses"] if s.startswith("2")))
            sent = self.step(entry, example["as"], method, path, example.get("request", {}), status)
            if sent.response.status_code == status and "capture" in example:
                self.capture(sent.response.json(), example["capture"])
        return self.sent
