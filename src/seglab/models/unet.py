"""U-Net with a MobileNetV2 encoder (the Oxford-IIIT Pet model of lesson 05).

- Encoder: ``keras.applications.MobileNetV2`` without its top; five of its
  activations are kept as skips, from 1/2 to 1/32 of the input size
  (:data:`SKIP_LAYERS`).
- Decoder: four *upsample blocks* (stride-2 transposed conv -> BatchNorm ->
  optional dropout -> ReLU, with 512, 256, 128, 64 filters); after each block
  the encoder's skip of the same size is concatenated on the channel axis.
- Head: a last stride-2 transposed conv from 1/2 size to full-size logits.

Images enter in [0, 1]; MobileNetV2's own preprocessing (scaling to [-1, 1])
runs inside the model, so data loaders and exported models agree.

BatchNorm momentum matters here. ``keras.applications`` builds MobileNetV2 with
momentum 0.999: its moving statistics move 0.1 % per step, so after a few
hundred steps from random init they are still far from the batch statistics
that training used. The model then scores well in training mode and predicts a
single class in inference mode. Every BatchNorm layer of this model uses
``batchnorm_momentum`` (0.9 by default), which settles within tens of steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from seglab.models.deeplab import BackbonePreprocess
from seglab.models.layers import all_layers

SKIP_LAYERS = (
    "block_1_expand_relu",  # 1/2 of the input, 96 channels
    "block_3_expand_relu",  # 1/4, 144 channels
    "block_6_expand_relu",  # 1/8, 192 channels
    "block_13_expand_relu",  # 1/16, 576 channels
    "block_16_project",  # 1/32, 320 channels: the bottom of the U
)
"""MobileNetV2 activations the decoder reads, shallow to deep."""

DECODER_FILTERS = (512, 256, 128, 64)
"""Filters of the four upsample blocks, deep to shallow."""

OUTPUT_STRIDE = 32
"""Input height and width must be multiples of this (five stride-2 stages)."""


def upsample_block(
    x,
    filters: int,
    name: str,
    *,
    kernel_size: int = 3,
    dropout: float = 0.0,
    batchnorm_momentum: float = 0.9,
):
    """Double the spatial size: transposed conv (stride 2) -> BN -> dropout -> ReLU.

    ``(B, h, w, C)`` -> ``(B, 2h, 2w, filters)``. The same block as pix2pix's
    generator uses, written here so the course needs no extra repository.
    """
    x = keras.layers.Conv2DTranspose(
        filters,
        kernel_size,
        strides=2,
        padding="same",
        use_bias=False,
        kernel_initializer=keras.initializers.RandomNormal(0.0, 0.02),
        name=f"{name}_conv_transpose",
    )(x)
    x = keras.layers.BatchNormalization(momentum=batchnorm_momentum, name=f"{name}_bn")(
        x
    )
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def mobilenetv2_encoder(
    input_shape: tuple[int, int, int],
    weights: str | None,
    alpha: float = 1.0,
) -> keras.Model:
    """MobileNetV2 as a model ``(B, H, W, 3)`` in [-1, 1] -> the five skip maps."""
    base = keras.applications.MobileNetV2(
        input_shape=input_shape, include_top=False, weights=weights, alpha=alpha
    )
    outputs = [base.get_layer(name).output for name in SKIP_LAYERS]
    return keras.Model(base.input, outputs, name="encoder")


def set_batchnorm_momentum(model: keras.Model, momentum: float) -> int:
    """Set ``momentum`` on every BatchNormalization layer, nested ones included.

    Returns the number of layers changed.
    """
    changed = 0
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
            changed += 1
    return changed


def _check_input_shape(input_shape: Sequence) -> tuple[int, int, int]:
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[-1] != 3:
        raise ValueError(f"input_shape must be (height, width, 3), got {input_shape!r}")
    height, width = shape[:2]
    for side, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or value < OUTPUT_STRIDE or value % OUTPUT_STRIDE:
            raise ValueError(
                f"input_shape {side} must be a multiple of {OUTPUT_STRIDE} (the "
                f"U-Net halves the size five times), got {input_shape!r}; "
                "e.g. (128, 128, 3)"
            )
    return shape  # type: ignore[return-value]


def _build_encoder(input_shape, encoder_weights, alpha) -> tuple[keras.Model, str]:
    """The encoder and the weights it really got (``imagenet``/``random``/path)."""
    if encoder_weights is None:
        return mobilenetv2_encoder(input_shape, None, alpha), "random"
    try:
        return mobilenetv2_encoder(input_shape, encoder_weights, alpha), str(
            encoder_weights
        )
    except Exception as error:  # Keras raises a bare Exception when offline
        if encoder_weights != "imagenet":
            raise
        first_line = (str(error).splitlines() or [""])[0][:80]
        print(
            f"ImageNet weights for MobileNetV2 are unavailable "
            f"({type(error).__name__}: {first_line}); using random "
            "initialisation instead, and the encoder is trained."
        )
        return mobilenetv2_encoder(input_shape, None, alpha), "random"


def unet_mobilenetv2(
    num_classes: int = 3,
    input_shape: tuple[int, int, int] = (128, 128, 3),
    encoder_weights: str | None = "imagenet",
    trainable_encoder: bool = False,
    *,
    decoder_filters: Sequence[int] = DECODER_FILTERS,
    dropout: float = 0.0,
    batchnorm_momentum: float = 0.9,
    alpha: float = 1.0,
    name: str = "unet_mobilenetv2",
) -> keras.Model:
    """Build the U-Net: images in [0, 1] -> logits at the input resolution.

    Args:
        num_classes: output channels (3 for the Pets trimaps).
        input_shape: ``(H, W, 3)`` with H and W multiples of 32.
        encoder_weights: ``"imagenet"``, ``None``/``"none"`` (random init) or a
            weights file of MobileNetV2 without its top. If ImageNet weights
            cannot be loaded (offline), prints one line and uses random init.
        trainable_encoder: train the encoder too. A *random* encoder is always
            trained: freezing random features would leave nothing to learn from.
        decoder_filters: filters of the upsample blocks, deep to shallow.
        dropout: dropout rate inside each upsample block (0 for none).
        batchnorm_momentum: momentum of every BatchNorm layer (see the module
            docstring for why not Keras's 0.999).
        alpha: MobileNetV2 width multiplier (1.0 for ImageNet weights).

    Returns:
        A ``keras.Model`` mapping ``(B, H, W, 3)`` float32 in [0, 1] to logits
        ``(B, H, W, num_classes)`` float32. ``model.encoder_weights`` says which
        weights were loaded (``"imagenet"``, ``"random"`` or the path) and
        ``model.encoder_trainable`` whether the encoder is trained.
    """
    input_shape = _check_input_shape(input_shape)
    if len(decoder_filters) != len(SKIP_LAYERS) - 1:
        raise ValueError(
            f"decoder_filters needs {len(SKIP_LAYERS) - 1} values (one per skip), "
            f"got {tuple(decoder_filters)}"
        )
    if isinstance(encoder_weights, str) and encoder_weights.lower() in ("none", ""):
        encoder_weights = None
    encoder, used = _build_encoder(input_shape, encoder_weights, alpha)
    encoder.trainable = bool(trainable_encoder) or used == "random"

    inputs = keras.Input(shape=input_shape, name="image")
    preprocessed = BackbonePreprocess("tf", name="mobilenetv2_preprocess")(inputs)
    skips = encoder(preprocessed)
    x = skips[-1]
    for index, (filters, skip) in enumerate(
        zip(decoder_filters, reversed(skips[:-1]), strict=True), start=1
    ):
        x = upsample_block(
            x,
            filters,
            name=f"decoder_up{index}",
            dropout=dropout,
            batchnorm_momentum=batchnorm_momentum,
        )
        x = keras.layers.Concatenate(name=f"decoder_skip{index}")([x, skip])
    x = keras.layers.Conv2DTranspose(
        num_classes, 3, strides=2, padding="same", name="classifier_transpose"
    )(x)
    # logits stay float32 under mixed precision, for a stable softmax/loss
    logits = keras.layers.Activation("linear", dtype="float32", name="logits")(x)
    model = keras.Model(inputs, logits, name=name)
    set_batchnorm_momentum(model, batchnorm_momentum)
    model.encoder_weights = used
    model.encoder_trainable = encoder.trainable
    return model
