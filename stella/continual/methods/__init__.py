"""Continual-learning methods, one file each, registered by name (``stella methods`` lists them)."""
from stella.continual.methods.base import METHODS, Context, Method, register
from stella.continual.methods import finetune, er, derpp, stella, stella_plus  # noqa: F401  (registration)
from stella.continual.methods import mir, gmed, clser, lump, esmer, multitask, ablations, oracle  # noqa: F401,E501
from stella.continual.methods import oracle_video, oracle_audio  # noqa: F401  (registration)

__all__ = ["METHODS", "Context", "Method", "register"]
