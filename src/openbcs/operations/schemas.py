"""ListOpRecord request and response models; field names exactly as the BCS API spells them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from openbcs.engine.records import OperationRecord
from openbcs.kernel.validation import pattern_rule


class ListOpRecordQuery(BaseModel):
    """The optional filters of ``GET /v2/{project_id}/operation/record``."""

    model_config = ConfigDict(extra="forbid")

    blockchain_id: str | None = Field(default=None, min_length=1, max_length=64)
    operation_status: Literal["waiting", "processing", "finished", "failed", "stop"] | None = None
    resource_type: Literal["BCSSVC01", "BCSSVC02", "PLUGIN01", "PLUGIN02", "PLUGIN03"] | None = None
    operation_type: str | None = Field(default=None, pattern=pattern_rule(r"^[0-9]{2}$", "two digits, e.g. 99"))
    operation_id: str | None = Field(default=None, min_length=1, max_length=64)


class SubStepInfo(BaseModel):
    substep_name: str
    detail: str
    status: str
    message: list[str]
    start_time: int | None = None
    end_time: int | None = None
    serial_num: int


class StepInfo(BaseModel):
    step_name: str
    status: str
    detail: str
    sub_steps: dict[str, SubStepInfo]
    serial_num: int


class RecordDetailInfo(BaseModel):
    operation_id: str
    resource_type: str
    operation_type: str
    domain_id: str
    project_id: str
    blockchain_id: str | None = None
    blockchain_name: str | None = None
    operation_process: dict[str, StepInfo]
    record_time: int
    operation_status: str
    message: list[str]
    desc: str

    @classmethod
    def of(cls, record: OperationRecord) -> RecordDetailInfo:
        """The API shape of a stored operation record."""
        return cls(
            operation_id=record.operation_id,
            resource_type=record.resource_type,
            operation_type=record.operation_type,
            domain_id=record.domain_id,
            project_id=record.project_id,
            blockchain_id=record.blockchain_id,
            blockchain_name=record.blockchain_name,
            operation_process={
                step.name: StepInfo(
                    step_name=step.name,
                    status=step.status,
                    detail=step.detail,
                    serial_num=step.serial_num,
                    sub_steps={
                        sub.name: SubStepInfo(
                            substep_name=sub.name,
                            detail=sub.detail,
                            status=sub.status,
                            message=sub.messages,
                            start_time=sub.start_time,
                            end_time=sub.end_time,
                            serial_num=sub.serial_num,
                        )
                        for sub in step.sub_steps
                    },
                )
                for step in record.steps
            },
            record_time=record.record_time,
            operation_status=record.status,
            message=record.messages,
            desc=record.description,
        )


class ListOpRecordResponse(BaseModel):
    count: int
    operation_records: list[RecordDetailInfo]


def _given(**fields: Any) -> dict[str, Any]:
    """The fields whose value is not None (``exclude_none``), in order."""
    return {name: value for name, value in fields.items() if value is not None}


def record_answer(record: OperationRecord) -> dict[str, Any]:
    """``RecordDetailInfo.of(record).model_dump(exclude_none=True)``, built directly: ListOpRecord answers tens of
    records with hundreds of sub-steps, and building the models costs more than everything else the call does
    (``tests/operations`` keeps the two equal, key order included)."""
    process = {
        step.name: {
            "step_name": step.name,
            "status": step.status,
            "detail": step.detail,
            "sub_steps": {
                sub.name: {
                    "substep_name": sub.name,
                    "detail": sub.detail,
                    "status": sub.status,
                    "message": sub.messages,
                    **_given(start_time=sub.start_time, end_time=sub.end_time),
                    "serial_num": sub.serial_num,
                }
                for sub in step.sub_steps
            },
            "serial_num": step.serial_num,
        }
        for step in record.steps
    }
    return {
        "operation_id": record.operation_id,
        "resource_type": record.resource_type,
        "operation_type": record.operation_type,
        "domain_id": record.domain_id,
        "project_id": record.project_id,
        **_given(blockchain_id=record.blockchain_id, blockchain_name=record.blockchain_name),
        "operation_process": process,
        "record_time": record.record_time,
        "operation_status": record.status,
        "message": record.messages,
        "desc": record.description,
    }
