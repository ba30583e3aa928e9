"""Request and response models of the monitoring operations (25-29) and of node logs (an OpenBCS extension); keys
as the API spells them."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from openbcs.kernel.validation import QueryInt


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


SortKey = Literal["time", "name", "severity"]
# The latest time a query may name, in ms since the epoch: 2100-01-01T00:00:00Z. The database compares times in
# nanoseconds as 64-bit integers (good until 2262): a later time is refused where it is parsed, never sent there.
TIME_MAX_MS = 4_102_444_800_000
STEP_MAX_MS = TIME_MAX_MS


class EventMetadataRelation(_Strict):
    key: str = Field(min_length=1, max_length=64)
    value: list[Annotated[str, Field(max_length=256)]] = Field(min_length=1, max_length=50)
    relation: Literal["AND", "OR", "NOT"]


class EventResultSort(_Strict):
    order_by: list[SortKey] = Field(default_factory=lambda: list[SortKey](["time"]), max_length=3)
    order: Literal["asc", "desc"] = "desc"


class ListBcsEventRequestBody(_Strict):
    time_range: str = Field(min_length=1, max_length=64)
    # milliseconds; a step longer than the longest window (STEP_MAX_MS) would make a single bucket anyway
    step: int = Field(gt=0, le=STEP_MAX_MS)
    search: str | None = Field(default=None, max_length=256)
    metadata_relation: list[EventMetadataRelation] | None = Field(default=None, max_length=20)
    sort: EventResultSort | None = None


class EventsQuery(_Strict):
    type: str | None = Field(default=None, max_length=32)


class ListBcsMetricRequestBody(_Strict):
    metric_names: list[Annotated[str, Field(max_length=64)]] | None = Field(default=None, max_length=20)


class ListEntityMetricRequestBody(_Strict):
    type: Literal["org", "plugin"] = "org"
    entity_name: str | None = Field(default=None, max_length=96)


class ListInstanceMetricRequestBody(_Strict):
    type: Literal["org", "plugin"]
    entity_name: str = Field(min_length=1, max_length=96)
    instance_name: str = Field(min_length=1, max_length=96)


class Dimension(BaseModel):
    name: str
    value: str


class StatisticValue(BaseModel):
    statistic: str
    value: float


class MetricDataPoints(BaseModel):
    timestamp: int
    unit: str
    statistics: list[StatisticValue]


class MetricDemision(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    namespace: str
    metric_name: str = Field(alias="metricName")
    dimensions: list[Dimension]


class MetricItemResultAPI(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    metric: MetricDemision
    data_points: list[MetricDataPoints] = Field(alias="dataPoints")


class MetricsResponse(BaseModel):
    metrics: list[MetricItemResultAPI]


class EntityMetricListItem(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    cpu_usage: str = Field(alias="cpuUsage")
    disk_read_rate: str = Field(alias="diskReadRate")
    disk_write_rate: str = Field(alias="diskWriteRate")
    mem_usage: str = Field(alias="memUsage")
    recv_bytes_rate: str = Field(alias="recvBytesRate")
    send_bytes_rate: str = Field(alias="sendBytesRate")
    filesystem_usage: str = Field(alias="filesystemUsage")


class EntityMetricList(BaseModel):
    dimensions: list[Dimension]
    values: list[EntityMetricListItem]


class ListEntityMetricResponse(BaseModel):
    metrics: list[EntityMetricList]


# --- node logs (an OpenBCS extension) -------------------------------------------------------------------------------

NODE_LOG_LINES_DEFAULT, NODE_LOG_LINES_MAX = 100, 1000


class NodeLogsQuery(_Strict):
    """Query of ``GET .../nodes/{node_name}/logs``: how many lines from the end of the log."""

    tail: QueryInt = Field(default=NODE_LOG_LINES_DEFAULT, ge=1, le=NODE_LOG_LINES_MAX)


class NodeLogsResponse(BaseModel):
    """The last lines of a node's log, oldest first. ``runtime`` is what runs the node: ``modelled`` nodes run no
    process and have no log (``lines`` is then empty); ``truncated`` is true when the log holds earlier lines."""

    node_name: str
    runtime: Literal["modelled", "local"]
    lines: list[str]
    truncated: bool
