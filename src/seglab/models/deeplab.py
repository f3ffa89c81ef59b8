"""DeepLabV3: a dilated ResNet-50 (or MobileNetV2) backbone, ASPP, bilinear logits.

The model follows Chen et al., "Rethinking Atrous Convolution for Semantic Image
Segmentation" (2017):

- ResNet-50 from ``keras.applications`` up to the stage that reaches the output
  stride; the later stages are rebuilt with stride 1 and dilated 3x3 convs
  (conv5 at rate 2 for output stride 16; conv4 at 2 and conv5 at 4 for output
  stride 8). The rebuilt layers keep ResNet-50's names and weight shapes, so the
  backbone's weights of **every** rebuilt block are copied in.
- Atrous spatial pyramid pooling (ASPP): a 1x1 conv, three 3x3 atrous convs
  (rates 6, 12, 18 at output stride 16; doubled at 8) and image pooling (global
  average -> 1x1 conv -> BN -> ReLU -> bilinear resize to the feature map's
  *dynamic* size), 256 channels each with BN + ReLU, concatenated (1280) and
  projected back to 256.
- A 1x1 classifier and a bilinear resize to the input's dynamic size, so any
  H x W works (e.g. 321 x 481).

Images enter in [0, 1]; the backbone's own preprocessing runs inside the model,
so data loaders and exported models agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

BACKBONES = ("resnet50", "mobilenetv2")
REFERENCE_RATES = (6, 12, 18)
"""The paper's ASPP rates at output stride 16 (for 513 x 513 crops)."""
REFERENCE_IMAGE_SIZE = 513
"""Crop size those rates were chosen for (a 33 x 33 map at output stride 16)."""

BN_EPSILON = 1.001e-5  # ResNet-50's BatchNormalization epsilon in keras.applications


@keras.saving.register_keras_serializable(package="seglab")
class BackbonePreprocess(keras.layers.Layer):
    """Map images in [0, 1] to what a backbone expects.

    ``(B, H, W, 3)`` float in [0, 1] -> ``(B, H, W, 3)`` float32.

    - ``"caffe"`` (ResNet-50): scale to [0, 255], RGB -> BGR, subtract the
      ImageNet channel means, as ``keras.applications.resnet50.preprocess_input``.
    - ``"tf"`` (MobileNetV2): scale to [-1, 1].
    """

    CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)

    def __init__(self, mode: str = "caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("caffe", "tf"):
            raise ValueError(f"mode must be 'caffe' or 'tf', got {mode!r}")
        self.mode = mode

    def call(self, images):
        images = keras.ops.cast(images, self.compute_dtype)
        if self.mode == "tf":
            return images * 2.0 - 1.0
        bgr = keras.ops.flip(images * 255.0, axis=-1)
        mean = keras.ops.convert_to_tensor(self.CAFFE_BGR_MEAN, self.compute_dtype)
        return bgr - mean

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package="seglab")
class ResizeLike(keras.layers.Layer):
    """Bilinearly resize ``images`` to the dynamic height and width of ``reference``.

    ``(B, h, w, C)``, ``(B, H, W, *)`` -> ``(B, H, W, C)``. Works for any input
    size because it reads the size at run time, not from a fixed factor.
    """

    def call(self, images, reference):
        size = tf.shape(reference)[1:3]
        resized = tf.image.resize(images, size, method="bilinear")
        return tf.cast(resized, images.dtype)

    def compute_output_shape(self, images_shape, reference_shape):
        return (
            images_shape[0],
            reference_shape[1],
            reference_shape[2],
            images_shape[3],
        )


def atrous_rates_for(
    image_size: int,
    output_stride: int = 16,
    reference_rates: Sequence[int] = REFERENCE_RATES,
) -> tuple[int, ...]:
    """ASPP rates scaled to the feature map of an ``image_size`` input.

    The paper's rates (6, 12, 18) suit a 33 x 33 feature map (513 px at output
    stride 16). On a smaller map a large rate reads mostly zero padding: once the
    rate reaches the map's side, the 3x3 atrous conv degenerates into a 1x1 conv,
    and on a CPU it is also far slower. This keeps the rates' ratio to the map.

    >>> atrous_rates_for(513)
    (6, 12, 18)
    >>> atrous_rates_for(128)
    (1, 3, 4)
    >>> atrous_rates_for(64)  # a 4 x 4 map: distinct rates below 4
    (1, 2, 3)
    """
    feature_size = -(-image_size // output_stride)  # ceil, as ResNet pads
    reference_size = -(-REFERENCE_IMAGE_SIZE // output_stride)
    scale = feature_size / reference_size * 16 / output_stride
    rates: list[int] = []
    for rate in reference_rates:
        scaled = max(1, round(rate * scale), rates[-1] + 1 if rates else 1)
        rates.append(min(scaled, max(1, feature_size - 1)))
    return tuple(rates)


def conv_bn_relu(x, filters: int, kernel_size: int, name: str, dilation: int = 1):
    """Conv (no bias) -> BN -> ReLU, the unit every ASPP branch uses."""
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        padding="same",
        dilation_rate=dilation,
        use_bias=False,
        name=f"{name}_conv",
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def dilated_bottleneck(x, filters: int, name: str, dilation: int, shortcut_conv: bool):
    """One ResNet-50 bottleneck block with stride 1 and a dilated 3x3 conv.

    Layer names and weight shapes equal ``keras.applications`` ResNet-50's
    (``{name}_0_conv`` ... ``{name}_3_bn``), so its weights copy over unchanged.
    ``(B, h, w, C)`` -> ``(B, h, w, 4 * filters)``.
    """
    if shortcut_conv:
        shortcut = keras.layers.Conv2D(4 * filters, 1, name=f"{name}_0_conv")(x)
        shortcut = keras.layers.BatchNormalization(
            epsilon=BN_EPSILON, name=f"{name}_0_bn"
        )(shortcut)
    else:
        shortcut = x
    y = keras.layers.Conv2D(filters, 1, name=f"{name}_1_conv")(x)
    y = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_1_bn")(y)
    y = keras.layers.Activation("relu", name=f"{name}_1_relu")(y)
    y = keras.layers.Conv2D(
        filters, 3, padding="same", dilation_rate=dilation, name=f"{name}_2_conv"
    )(y)
    y = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_2_bn")(y)
    y = keras.layers.Activation("relu", name=f"{name}_2_relu")(y)
    y = keras.layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(y)
    y = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_3_bn")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


def dilated_stage(x, filters: int, blocks: int, stage: int, dilation: int):
    """A ResNet stage (``conv{stage}``) rebuilt with stride 1 and dilation.

    ``(B, h, w, C)`` -> ``(B, h, w, 4 * filters)``: the spatial size is kept.
    """
    for block in range(1, blocks + 1):
        x = dilated_bottleneck(
            x,
            filters,
            name=f"conv{stage}_block{block}",
            dilation=dilation,
            shortcut_conv=block == 1,
        )
    return x


def atrous_spatial_pyramid_pooling(
    features, rates: Sequence[int], filters: int = 256, name: str = "aspp"
):
    """ASPP: 1x1 conv, one 3x3 atrous conv per rate, image pooling; concatenated.

    ``(B, h, w, C)`` -> ``(B, h, w, filters * (len(rates) + 2))``. The image
    pooling branch convolves the *pooled* features and then resizes that
    result to the feature map's dynamic size.
    """
    branches = [conv_bn_relu(features, filters, 1, name=f"{name}_1x1")]
    for index, rate in enumerate(rates, start=1):
        branches.append(
            conv_bn_relu(
                features, filters, 3, name=f"{name}_atrous{index}", dilation=rate
            )
        )
    pooled = keras.layers.GlobalAveragePooling2D(
        keepdims=True, name=f"{name}_image_pool"
    )(features)
    pooled = conv_bn_relu(pooled, filters, 1, name=f"{name}_image_pool_1x1")
    branches.append(ResizeLike(name=f"{name}_image_pool_resize")(pooled, features))
    return keras.layers.Concatenate(name=f"{name}_concat")(branches)


def _resnet50_features(preprocessed, weights, output_stride: int):
    """ResNet-50 features at ``output_stride``, rebuilt stages' weights copied."""
    base = keras.applications.ResNet50(
        include_top=False, weights=weights, input_tensor=preprocessed
    )
    if output_stride == 32:
        return base.get_layer("conv5_block3_out").output
    # (stage, filters, blocks, dilation) for every stage rebuilt without stride
    if output_stride == 16:
        start, rebuilt = "conv4_block6_out", [(5, 512, 3, 2)]
    else:
        start, rebuilt = "conv3_block4_out", [(4, 256, 6, 2), (5, 512, 3, 4)]
    x = base.get_layer(start).output
    for stage, filters, blocks, dilation in rebuilt:
        x = dilated_stage(x, filters, blocks, stage, dilation)
    copy_stage_weights(base, x)
    return x


def copy_stage_weights(source: keras.Model, features) -> int:
    """Copy ``source``'s weights into every same-named layer that built ``features``.

    Walks the graph back from the symbolic tensor ``features`` and stops at
    layers that belong to ``source`` itself.
    Returns the number of layers copied.
    """
    own = {id(layer) for layer in source.layers}
    copied, seen = 0, set()
    stack = [features]
    while stack:
        tensor = stack.pop()
        layer = tensor._keras_history.operation
        if id(layer) in own or id(layer) in seen:
            continue
        seen.add(id(layer))
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
            copied += 1
        for node in layer._inbound_nodes:
            stack.extend(node.input_tensors)
    return copied


MOBILENETV2_BLOCKS = (
    # (output channels, expansion, stride) of blocks 0..16, as keras.applications
    (16, 1, 1),
    (24, 6, 2),
    (24, 6, 1),
    (32, 6, 2),
    (32, 6, 1),
    (32, 6, 1),
    (64, 6, 2),
    (64, 6, 1),
    (64, 6, 1),
    (64, 6, 1),
    (96, 6, 1),
    (96, 6, 1),
    (96, 6, 1),
    (160, 6, 2),
    (160, 6, 1),
    (160, 6, 1),
    (320, 6, 1),
)
"""MobileNetV2's inverted residual blocks (width 1.0)."""

_MOBILENET_BN = {"epsilon": 1e-3, "momentum": 0.999}


def inverted_residual_block(
    x, filters: int, expansion: int, stride: int, block_id: int, dilation: int = 1
):
    """One MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 linear projection.

    Layer names and weight shapes equal ``keras.applications`` MobileNetV2's
    (``block_{id}_expand`` ... ``block_{id}_project_BN``; block 0 is
    ``expanded_conv_*``), so its weights copy over. ``dilation`` dilates the
    depthwise conv. ``(B, h, w, C)`` -> ``(B, h / stride, w / stride, filters)``.
    """
    inputs = x
    in_channels = x.shape[-1]
    prefix = f"block_{block_id}_" if block_id else "expanded_conv_"
    if block_id:
        x = keras.layers.Conv2D(
            expansion * in_channels, 1, use_bias=False, name=f"{prefix}expand"
        )(x)
        x = keras.layers.BatchNormalization(name=f"{prefix}expand_BN", **_MOBILENET_BN)(
            x
        )
        x = keras.layers.ReLU(6.0, name=f"{prefix}expand_relu")(x)
    x = keras.layers.DepthwiseConv2D(
        3,
        strides=stride,
        padding="same",
        dilation_rate=dilation,
        use_bias=False,
        name=f"{prefix}depthwise",
    )(x)
    x = keras.layers.BatchNormalization(name=f"{prefix}depthwise_BN", **_MOBILENET_BN)(
        x
    )
    x = keras.layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(x)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, name=f"{prefix}project")(x)
    x = keras.layers.BatchNormalization(name=f"{prefix}project_BN", **_MOBILENET_BN)(x)
    if in_channels == filters and stride == 1:
        x = keras.layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def mobilenetv2_strides_and_rates(output_stride: int) -> list[tuple[int, int]]:
    """(stride, dilation) of each MobileNetV2 block for an ``output_stride``.

    As DeepLab's model zoo does: once the feature map reaches ``output_stride``,
    every later stride becomes 1 and the blocks *after* it are dilated by the
    stride removed (so a 3x3 conv keeps its field of view).

    >>> mobilenetv2_strides_and_rates(16)[13:]
    [(1, 1), (1, 2), (1, 2), (1, 2)]
    """
    current, rate, plan = 2, 1, []  # Conv1 already has stride 2
    for _, _, stride in MOBILENETV2_BLOCKS:
        if current == output_stride and stride > 1:
            plan.append((1, rate))
            rate *= stride
        else:
            plan.append((stride, rate))
            current *= stride
    return plan


def _mobilenetv2_features(preprocessed, weights, output_stride: int):
    """The whole MobileNetV2 (to block 16, 320 channels) at ``output_stride``.

    DeepLab's MobileNetV2 variant: all 17 inverted residual blocks, strides
    after ``output_stride`` removed and the following blocks dilated; the final
    1x1 conv to 1280 channels (ImageNet classification only) is left out, as
    in DeepLab. With ``weights``, every layer receives ``keras.applications``
    MobileNetV2's weights (same names and shapes).
    """
    x = keras.layers.Conv2D(
        32, 3, strides=2, padding="same", use_bias=False, name="Conv1"
    )(preprocessed)
    x = keras.layers.BatchNormalization(name="bn_Conv1", **_MOBILENET_BN)(x)
    x = keras.layers.ReLU(6.0, name="Conv1_relu")(x)
    plan = mobilenetv2_strides_and_rates(output_stride)
    for block_id, ((filters, expansion, _), (stride, rate)) in enumerate(
        zip(MOBILENETV2_BLOCKS, plan, strict=True)
    ):
        x = inverted_residual_block(x, filters, expansion, stride, block_id, rate)
    if weights is not None:
        source = keras.applications.MobileNetV2(
            include_top=False, weights=weights, input_shape=(None, None, 3)
        )
        copy_stage_weights(source, x)
    return x


def _build(inputs, backbone, weights, output_stride, rates, num_classes, dropout):
    mode = "caffe" if backbone == "resnet50" else "tf"
    preprocessed = BackbonePreprocess(mode, name="backbone_preprocess")(inputs)
    if backbone == "resnet50":
        features = _resnet50_features(preprocessed, weights, output_stride)
    else:
        features = _mobilenetv2_features(preprocessed, weights, output_stride)
    x = atrous_spatial_pyramid_pooling(features, rates)
    x = conv_bn_relu(x, 256, 1, name="aspp_projection")
    if dropout:
        x = keras.layers.Dropout(dropout, name="aspp_dropout")(x)
    x = keras.layers.Conv2D(num_classes, 1, name="classifier")(x)
    logits = ResizeLike(name="upsample_to_input")(x, inputs)
    # logits stay float32 under mixed precision, for a stable softmax/loss
    return keras.layers.Activation("linear", dtype="float32", name="logits")(logits)


def _download_or_file_error(error: BaseException) -> bool:
    """Whether ``error`` says the weights could not be fetched or read.

    Only those errors fall back to random weights; any other error (a bug, a
    bad argument) is raised, never hidden behind a silently untrained model.
    """
    if isinstance(error, OSError):  # urllib's URLError, a broken HDF5 file
        return True
    return str(error).startswith("URL fetch failure")  # keras get_file


def deeplabv3(
    num_classes: int = 21,
    input_shape: tuple = (None, None, 3),
    backbone: str = "resnet50",
    backbone_weights: str | None = "imagenet",
    output_stride: int = 16,
    atrous_rates: Sequence[int] | None = None,
    dropout: float = 0.1,
    batchnorm_momentum: float | None = None,
    name: str = "deeplabv3",
) -> keras.Model:
    """Build DeepLabV3: images in [0, 1] -> logits at the input resolution.

    Args:
        num_classes: output channels (21 for PASCAL VOC).
        input_shape: ``(H, W, 3)``; ``None`` sides accept any size.
        backbone: ``"resnet50"`` (the paper) or ``"mobilenetv2"`` (light).
        backbone_weights: ``"imagenet"``, ``None`` (random init) or a path to a
            weights file of the backbone without its top. If ImageNet weights
            cannot be loaded (offline), prints one line and uses random init.
        output_stride: input size / feature-map size: 8, 16 or 32.
        atrous_rates: ASPP rates; default (6, 12, 18) at output stride 16,
            doubled at 8, halved at 32. :func:`atrous_rates_for` fits them to a
            small input.
        dropout: dropout rate before the classifier (0 for none).
        batchnorm_momentum: if given, the momentum of every BatchNormalization
            layer's moving statistics. Keras uses 0.99 (MobileNetV2: 0.999),
            which suits fine-tuning; a short run from random weights needs a
            lower one (e.g. 0.9) or its inference-mode statistics stay stale.

    Returns:
        A ``keras.Model`` mapping ``(B, H, W, 3)`` float32 in [0, 1] to logits
        ``(B, H, W, num_classes)`` float32. ``model.backbone_weights`` says which
        weights were actually loaded (``"imagenet"``, ``"random"`` or the path).
    """
    if backbone not in BACKBONES:
        raise ValueError(
            f"backbone={backbone!r} is unknown; choose one of {', '.join(BACKBONES)}"
        )
    if output_stride not in (8, 16, 32):
        raise ValueError(f"output_stride must be 8, 16 or 32, got {output_stride}")
    if isinstance(backbone_weights, str) and backbone_weights.lower() in ("none", ""):
        backbone_weights = None
    if atrous_rates is None:
        atrous_rates = tuple(r * 16 // output_stride for r in REFERENCE_RATES)
    atrous_rates = tuple(int(r) for r in atrous_rates)

    inputs = keras.Input(shape=input_shape, name="image")
    used = "random" if backbone_weights is None else str(backbone_weights)
    try:
        logits = _build(
            inputs,
            backbone,
            backbone_weights,
            output_stride,
            atrous_rates,
            num_classes,
            dropout,
        )
    except Exception as error:  # Keras raises a bare Exception when offline
        if backbone_weights != "imagenet" or not _download_or_file_error(error):
            raise
        print(
            f"ImageNet weights for {backbone} are unavailable "
            f"({type(error).__name__}: {str(error).splitlines()[0][:80]}); "
            "using random initialisation instead."
        )
        inputs = keras.Input(shape=input_shape, name="image")
        logits = _build(
            inputs, backbone, None, output_stride, atrous_rates, num_classes, dropout
        )
        used = "random"
    model = keras.Model(inputs, logits, name=name)
    if batchnorm_momentum is not None:
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = float(batchnorm_momentum)
    model.backbone_weights = used
    model.atrous_rates = atrous_rates
    model.output_stride = output_stride
    return model
