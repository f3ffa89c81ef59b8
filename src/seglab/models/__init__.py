"""Segmentation models: DeepLabV3 (``deeplab``), U-Net (``unet``)."""

from seglab.models.deeplab import atrous_rates_for, deeplabv3
from seglab.models.unet import unet_mobilenetv2

__all__ = ["atrous_rates_for", "deeplabv3", "unet_mobilenetv2"]
