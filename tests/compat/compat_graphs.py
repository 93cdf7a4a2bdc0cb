"""Workflows in the shapes ComfyStream users bring (written for these tests, API format).

ComfyStream marks the frame source with ``LoadTensor`` or ``PrimaryInputLoadImage`` (or, per the
Livepeer docs' Workflow Authoring page, a sole ``LoadImage``) and the sink with ``SaveTensor``,
``PreviewImage`` or ``SaveImage``; its BYOC server takes them under ``prompts`` (an object, JSON
text or a list whose first entry is used).
"""

from __future__ import annotations

import json
from typing import Any

TENSOR_PASSTHROUGH: dict[str, Any] = {
    "1": {"class_type": "LoadTensor", "inputs": {}},
    "2": {"class_type": "SaveTensor", "inputs": {"images": ["1", 0]}},
}

PRIMARY_INVERT: dict[str, Any] = {
    "5": {"class_type": "PrimaryInputLoadImage", "inputs": {"image": "example.png"}},
    "7": {"class_type": "ImageInvert", "inputs": {"image": ["5", 0]}},
    "9": {"class_type": "SaveTensor", "inputs": {"images": ["7", 0]}},
}

LOADIMAGE_INVERT_PREVIEW: dict[str, Any] = {
    "10": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
    "11": {"class_type": "ImageInvert", "inputs": {"image": ["10", 0]}},
    "12": {"class_type": "PreviewImage", "inputs": {"images": ["11", 0]}},
}

LOADIMAGE_SAVEIMAGE: dict[str, Any] = {
    "3": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
    "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "cs"}},
}

# Needs ComfyUI (ImageBlur); the blur radius is a plain widget (node-id patches) and the sigma a
# named live parameter (flat updates).
LOADIMAGE_BLUR_SAVE: dict[str, Any] = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
    "2": {
        "class_type": "TrickleParamFloat",
        "inputs": {"name": "sigma", "value": 1.0, "min": 0.1, "max": 10.0},
    },
    "3": {
        "class_type": "ImageBlur",
        "inputs": {"image": ["1", 0], "blur_radius": 1, "sigma": ["2", 0]},
    },
    "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "cs"}},
}


def as_text(graph: dict[str, Any]) -> str:
    return json.dumps(graph)
