"""Segmentation models: DeepLabV3 (``deeplab``), U-Net (``unet``)."""

from seglab.models.deeplab import atrous_rates_for, deeplabv3
from seglab.models.layers import all_layers
from seglab.models.unet import unet_mobilenetv2

__all__ = ["all_layers", "atrous_rates_for", "deeplabv3", "unet_mobilenetv2"]
