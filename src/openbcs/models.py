"""Imports every domain's tables so that ``Base.metadata`` knows them all (for Alembic and tests)."""

from openbcs.iam.models import AccessKey, Account, Project, User
from openbcs.operations.models import Operation, OperationSubStep

__all__ = ["AccessKey", "Account", "Operation", "OperationSubStep", "Project", "User"]
