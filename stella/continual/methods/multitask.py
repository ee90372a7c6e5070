"""Multitask: the upper bound of Table 1 -- plain pre-training on the union of all tasks.

``joint = True`` makes the trainer stream one "task" holding every task's train split
(``stream.JointDataset``), shuffled together, with the same number of epochs; the objective is
L = l^r + lambda l^c with no memory and no countermeasure (there is nothing to forget).
Evaluation happens once, after the joint task, on every task's eval split.
"""
from __future__ import annotations

from stella.continual.methods.base import register
from stella.continual.methods.finetune import Finetune


@register("multitask")
class Multitask(Finetune):
    summary = "Multitask: plain pre-training on the union of all tasks, one stream task (upper bound)"
    joint = True
