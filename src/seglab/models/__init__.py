"""Segmentation models: DeepLabV3 (``deeplab``)."""

from seglab.models.deeplab import atrous_rates_for, deeplabv3

__all__ = ["atrous_rates_for", "deeplabv3"]
