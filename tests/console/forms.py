"""An API request body as the console's forms spell it, written independently of the console's code: nested fields
joined with dots, list items with ``[i]``, booleans as the form's values."""

from __future__ import annotations

from typing import Any


def form_of(body: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """The form fields that describe ``body`` (CreateNewBlockchain's cluster platform is one field of the form)."""
    fields: dict[str, str] = {}
    for key, value in body.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            platform = value.get("cluster_platform_type")
            if platform is not None:
                fields["cluster_platform_type"] = str(platform)
            fields.update(form_of({k: v for k, v in value.items() if k != "cluster_platform_type"}, f"{name}."))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                fields.update(form_of(item, f"{name}[{index}]."))
        elif isinstance(value, bool):
            if key == "is_invitee":
                if value:
                    fields[name] = "on"
            else:
                fields[name] = "true" if value else "false"
        else:
            fields[name] = str(value)
    return fields
