"""seglab: the helper package of a course on semantic image segmentation.

Lessons import from here instead of copying code; each module has one job:
``config`` (profiles, banner), ``palette`` (VOC colours), ``data`` (datasets),
``models``, ``losses``, ``metrics``, ``train``, ``evaluate``, ``viz``,
``foreground``.
"""

__version__ = "0.1.0"
