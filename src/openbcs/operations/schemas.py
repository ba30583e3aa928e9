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
    operation_type: str | None = Field(default=None, pattern=pattern_rule(r"^\d{2}$", "two digits, e.g. 99"))
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


def record_answer(record: OperationRecord) -> dict[str, Any]:
    """``RecordDetailInfo.of(record).model_dump(exclude_none=True)``, built directly: ListOpRecord answers tens of
    records with hundreds of sub-steps, and building the models costs more than everything else the call does
    (``tests/operations`` keeps the two equal, key order included)."""
    answer: dict[str, Any] = {
        "operation_id": record.operation_id,
        "resource_type": record.resource_type,
        "operation_type": record.operation_type,
        "domain_id": record.domain_id,
        "project_id": record.project_id,
    }
    if record.blockchain_id is not None:
        answer["blockchain_id"] = record.blockchain_id
    if record.blockchain_name is not None:
        answer["blockchain_name"] = record.blockchain_name
    process = {}
    for step in record.steps:
        sub_steps = {}
        for sub in step.sub_steps:
            shown: dict[str, Any] = {
                "substep_name": sub.name,
                "detail": sub.detail,
                "status": sub.status,
                "message": sub.messages,
            }
            if sub.start_time is not None:
                shown["start_time"] = sub.start_time
            if sub.end_time is not None:
                shown["end_time"] = sub.end_time
            shown["serial_num"] = sub.serial_num
            sub_steps[sub.name] = shown
        process[step.name] = {
            "step_name": step.name,
            "status": step.status,
            "detail": step.detail,
            "sub_steps": sub_steps,
            "serial_num": step.serial_num,
        }
    answer["operation_process"] = process
    answer["record_time"] = record.record_time
    answer["operation_status"] = record.status
    answer["message"] = record.messages
    answer["desc"] = record.description
    return answer
