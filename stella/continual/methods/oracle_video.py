"""Controls of the video selection alone: DER++ on the video patches the ground truth marks (Oracle, video)
or avoids (Anti-oracle, video), with audio taken exactly as Random takes it.

Everything but the video ranking is the joint :class:`~stella.continual.methods.oracle.Oracle`'s: the budget
(kappa_a, kappa_v, ``selection.mask_of``), the ground-truth scores stored with each memory item, DER++ with
``continual.stella_alpha``. The audio patches are Algorithm 1's chunks in a uniformly random order
(``stella.selection.random_chunks``), Random's audio: so Oracle (video) − Random measures the spatial
selection of video alone, and Oracle − Oracle (video) what ranking the audio chunks adds
(``stella.selection.oracle.TRUTH``).
"""
from __future__ import annotations

from stella.continual.methods.base import register
from stella.continual.methods.oracle import Oracle


@register("oracle-video")
class OracleVideo(Oracle):
    summary = "control: DER++ on the sounding object's video patches first (ground truth), Random's audio chunks"
    strategy = "oracle-video"


@register("anti-oracle-video")
class AntiOracleVideo(Oracle):
    summary = "control: DER++ on the video patches farthest from the sounding object (ground truth), Random's audio"
    strategy = "anti-oracle-video"
