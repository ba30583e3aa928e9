"""What the monitoring routes need from the running server besides the context: the node-metrics source and the
server's own telemetry, both made once by the app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from openbcs.monitoring.sources import MetricsSource
from openbcs.monitoring.telemetry import Telemetry


@dataclass(frozen=True)
class MonitoringState:
    """The app's metrics source and telemetry."""

    source: MetricsSource
    telemetry: Telemetry


def get_monitoring(request: Request) -> MonitoringState:
    """The monitoring state of the app handling ``request``."""
    state: MonitoringState = request.app.state.monitoring
    return state


Monitoring = Annotated[MonitoringState, Depends(get_monitoring)]
