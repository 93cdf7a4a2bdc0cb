"""V3 live parameter nodes: named values that a stream's parameter updates change by name.

A gateway user sends ``{"<name>": value}``; the driver finds the parameter nodes of the running
workflow whose ``name`` input matches and sets their ``value`` (validated against the node's type
and, for numbers, the node's own ``min``/``max``). The widget value is the default. Imported only
by ComfyUI; the class ids are listed in ``nodes/graph.py`` (``PARAM_NODES``) for pure-Python use.
"""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

CATEGORY = "trickle/parameters"
_NAME_TIP = "The parameter's name: a stream update {\"<name>\": value} sets this node's value."


def _name_input(default: str) -> io.String.Input:
    return io.String.Input("name", default=default, tooltip=_NAME_TIP)


def _ranged_inputs(
    input_cls: Any, what: str, default: Any, low: Any, high: Any, **bounds: Any
) -> list[Any]:
    """The ``value``/``min``/``max`` inputs of a number node; ``bounds`` are each widget's limits."""
    return [
        input_cls(
            "value", default=default, **bounds, tooltip=f"The {what} (default until updated)."
        ),
        input_cls("min", default=low, **bounds, tooltip="Smallest value an update may set."),
        input_cls("max", default=high, **bounds, tooltip="Largest value an update may set."),
    ]


def _schema(node_id: str, title: str, what: str, inputs: list[Any], output: Any) -> io.Schema:
    return io.Schema(
        node_id=node_id,
        display_name=title,
        category=CATEGORY,
        description=f"A named live {what}: its value can be changed during a stream by name.",
        inputs=inputs,
        outputs=[output],
    )


class TrickleParamText(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return _schema(
            "TrickleParamText",
            "Live Text",
            "text",
            [
                _name_input("prompt"),
                io.String.Input(
                    "value", default="", multiline=True, tooltip="The text (default until updated)."
                ),
            ],
            io.String.Output("value", tooltip="The current text."),
        )

    @classmethod
    def execute(cls, name: str, value: str) -> io.NodeOutput:
        return io.NodeOutput(value)


class TrickleParamFloat(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return _schema(
            "TrickleParamFloat",
            "Live Float",
            "number",
            [
                _name_input("strength"),
                *_ranged_inputs(
                    io.Float.Input, "number", 0.5, 0.0, 1.0, min=-1e9, max=1e9, step=0.01
                ),
            ],
            io.Float.Output("value", tooltip="The current number."),
        )

    @classmethod
    def execute(cls, name: str, value: float, min: float, max: float) -> io.NodeOutput:
        return io.NodeOutput(float(value))


class TrickleParamInt(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return _schema(
            "TrickleParamInt",
            "Live Integer",
            "integer",
            [
                _name_input("steps"),
                *_ranged_inputs(io.Int.Input, "integer", 1, 0, 100, min=-(2**53), max=2**53),
            ],
            io.Int.Output("value", tooltip="The current integer."),
        )

    @classmethod
    def execute(cls, name: str, value: int, min: int, max: int) -> io.NodeOutput:
        return io.NodeOutput(int(value))


class TrickleParamSeed(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return _schema(
            "TrickleParamSeed",
            "Live Seed",
            "seed",
            [
                _name_input("seed"),
                io.Int.Input(
                    "value",
                    default=42,
                    min=0,
                    max=0xFFFFFFFFFFFFFFFF,
                    tooltip="The seed (default until updated); fixed during a stream.",
                ),
            ],
            io.Int.Output("seed", tooltip="The current seed."),
        )

    @classmethod
    def execute(cls, name: str, value: int) -> io.NodeOutput:
        return io.NodeOutput(int(value))


class TrickleParamBoolean(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return _schema(
            "TrickleParamBoolean",
            "Live Boolean",
            "switch",
            [
                _name_input("enabled"),
                io.Boolean.Input(
                    "value", default=True, tooltip="The switch (default until updated)."
                ),
            ],
            io.Boolean.Output("value", tooltip="The current switch state."),
        )

    @classmethod
    def execute(cls, name: str, value: bool) -> io.NodeOutput:
        return io.NodeOutput(bool(value))


NODES: list[type[io.ComfyNode]] = [
    TrickleParamText,
    TrickleParamFloat,
    TrickleParamInt,
    TrickleParamSeed,
    TrickleParamBoolean,
]
