"""Controls of the audio selection alone: DER++ on the audio chunks where the sound is on (Oracle, audio) or
off (Anti-oracle, audio), with video taken exactly as Random takes it.

Everything but the audio ranking is the joint :class:`~stella.continual.methods.oracle.Oracle`'s (budget,
stored ground-truth scores, DER++ with ``continual.stella_alpha``); the audio chunks are ranked by their
active share (Algorithm 1's chunks, ``stella.selection.oracle``) and the video patches are a uniformly random
kappa_v, Random's video. So Oracle (audio) − Random measures the temporal selection of audio alone
(``stella.selection.oracle.TRUTH``).
"""
from __future__ import annotations

from stella.continual.methods.base import register
from stella.continual.methods.oracle import Oracle


@register("oracle-audio")
class OracleAudio(Oracle):
    summary = "control: DER++ on the audio chunks where the sound is on first (ground truth), Random's video"
    strategy = "oracle-audio"


@register("anti-oracle-audio")
class AntiOracleAudio(Oracle):
    summary = "control: DER++ on the audio chunks where the sound is off first (ground truth), Random's video"
    strategy = "anti-oracle-audio"
