"""Record the example answers of the API reference: ``python -m tests.openapi.record`` runs the example tour against
an in-process server and writes ``src/openbcs/openapi/responses.json`` (real answers, ids made up again). Then
regenerate ``docs/api.md`` with ``openbcs docs markdown > docs/api.md``."""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
from pathlib import Path

from openbcs.openapi.examples import placeholders
from tests.openapi.scenario import run_scenario

TARGET = Path(__file__).parents[2] / "src" / "openbcs" / "openapi" / "responses.json"
SKIP = {"AdminExportState"}  # a whole database: its example is described, not recorded


def main() -> None:
    os.environ.setdefault("OPENBCS_SECRET_KEY", base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    with tempfile.TemporaryDirectory() as scratch:
        tour = run_scenario(f"sqlite:///{scratch}/record.db", Path(scratch))
    made_up = {real: fake for fake, real in tour.live.items()}
    recorded = {}
    for name, answer in tour.answers.items():
        if name in SKIP or name == "setup":
            continue
        text = json.dumps(answer)
        for real, fake in made_up.items():
            text = text.replace(real, fake)
        recorded[name] = json.loads(text)
    assert set(made_up.values()) <= set(placeholders().values())
    TARGET.write_text(json.dumps(dict(sorted(recorded.items())), indent=1, ensure_ascii=False) + "\n")
    print(f"recorded {len(recorded)} answers in {TARGET}")


if __name__ == "__main__":
    main()
