"""seglab: the helper package of a course on semantic image segmentation.

Lessons import from here instead of copying code; each module has one job:
``config`` (profiles, banner), ``palette`` (VOC colours), ``data`` (datasets),
``models``, ``losses``, ``metrics``, ``train``, ``evaluate``, ``viz``,
``foreground``.
"""

import os as _os

# Keep TensorFlow's C++ start-up chatter out of lesson output (set before TF loads).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
