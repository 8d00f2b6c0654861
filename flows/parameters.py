"""Flows whose Prefect parameters are the fields of a pydantic model, one top-level parameter
per field.

A deployment's form then shows one field per option (with its description, its choices as a
dropdown, its bounds), and ``prefect deployment run ... --param plan_path=...`` merges with the
deployment's defaults key by key (a single nested model parameter is replaced whole). The
flow's body still receives one validated model.

Rules between fields (a ``command`` reviewer needs ``review_command``) are written as JSON
schema ``if``/``then`` rules in the model's ``json_schema_extra`` under ``allOf``
(``parameter_rules``); ``flows.prefect_setup`` adds them to each deployment's parameter schema,
which the Prefect server checks when a flow run is created.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, Field
from pydantic.fields import FieldInfo

M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")


def fields_as_parameters(model: type[M]) -> Callable[[Callable[[M], R]], Callable[..., R]]:
    """Decorator (under ``@flow``) for ``fn(params: model)``: the decorated function takes each
    field of ``model`` as a keyword argument (same type, bounds, default; its description in
    the docstring's ``Args:``, where Prefect reads parameter descriptions) and calls ``fn``
    with ``model(**fields)``. Raises pydantic's ``ValidationError`` when the model rejects them.
    """

    def wrap(fn: Callable[[M], R]) -> Callable[..., R]:
        def call(**fields: Any) -> R:
            return fn(model(**fields))

        signature = inspect.signature(fn)
        call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [_parameter(name, field) for name, field in model.model_fields.items()],
            return_annotation=signature.return_annotation)
        args = "\n".join(f"    {name}: {' '.join((field.description or name).split())}"
                         for name, field in model.model_fields.items())
        call.__doc__ = f"{inspect.cleandoc(fn.__doc__ or '')}\n\nArgs:\n{args}\n"
        call.__name__, call.__qualname__, call.__module__ = fn.__name__, fn.__qualname__, fn.__module__
        return call

    return wrap


def _parameter(name: str, field: FieldInfo) -> inspect.Parameter:
    metadata = list(field.metadata)
    if field.json_schema_extra:
        metadata.append(Field(json_schema_extra=field.json_schema_extra))
    annotation = Annotated[(field.annotation, *metadata)] if metadata else field.annotation
    default = inspect.Parameter.empty if field.is_required() else field.get_default()
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                             default=default)


def flow_arguments(params: BaseModel) -> dict[str, Any]:
    """The keyword arguments of a ``fields_as_parameters`` flow for ``params``: {field: value}."""
    return {name: getattr(params, name) for name in type(params).model_fields}


def parameter_rules(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The JSON schema rules between ``model``'s fields (its schema's ``allOf``; [] when none)."""
    return model.model_json_schema().get("allOf", [])
