"""Walking a model's layers, nested models included."""

from __future__ import annotations

from collections.abc import Iterator

import keras


def all_layers(layer: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """The layer and, depth first, every layer inside it."""
    yield layer
    for inner in getattr(layer, "layers", []):
        yield from all_layers(inner)
