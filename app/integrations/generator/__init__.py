"""Image generation: the `Generator` port and the embedded local generator (labelled previews)."""

from app.integrations.generator.local import LocalGenerator
from app.integrations.generator.port import (
    FailureCode,
    GenerationFailed,
    GenerationRequest,
    GenerationResult,
    Generator,
    HairColour,
    Length,
    PredictionSlot,
    ProviderBusy,
    StyleSpec,
    Texture,
    View,
)

__all__ = [
    "FailureCode",
    "GenerationFailed",
    "GenerationRequest",
    "GenerationResult",
    "Generator",
    "HairColour",
    "Length",
    "LocalGenerator",
    "PredictionSlot",
    "ProviderBusy",
    "StyleSpec",
    "Texture",
    "View",
]
