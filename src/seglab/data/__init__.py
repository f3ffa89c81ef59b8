"""Datasets: PASCAL VOC 2012, Oxford-IIIT Pet, and built-in stand-ins in their formats."""

from seglab.data.pets import pets_dataset
from seglab.data.voc import voc_dataset

__all__ = ["pets_dataset", "voc_dataset"]
