"""Task-free continual audio-video pre-training: stream, rehearsal memory, methods, trainer."""
from stella.continual.methods import METHODS, Method, register
from stella.continual.trainer import Trainer, resolve_method_config, run_experiment

__all__ = ["METHODS", "Method", "register", "Trainer", "resolve_method_config", "run_experiment"]
