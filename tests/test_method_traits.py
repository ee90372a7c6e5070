"""A method added as one new file gets its behaviour from its class attributes alone: the trainer
and the selection read ``strategy``, ``needs_avm``, ``joint`` and ``batch_multiplier`` from the
registered class, never from a list of names or a config key."""
from __future__ import annotations

import pytest
import torch

from stella.config import load_config
from stella.continual import METHODS, Trainer, register, resolve_method_config
from stella.continual.methods.ablations import PatchDERpp
from stella.continual.methods.stella import Stella
from stella.store import RunStore


@pytest.fixture
def registry():
    """Register throwaway methods for one test; the registry is restored afterwards."""
    saved = dict(METHODS)
    yield register
    METHODS.clear()
    METHODS.update(saved)


def trained(name: str, tmp_path) -> Trainer:
    cfg = resolve_method_config(load_config("smoke", [f"continual.method={name}", "continual.epochs_per_task=2"]))
    tr = Trainer(cfg, RunStore(str(tmp_path)).dir(cfg))
    tr.run()
    return tr


def test_a_new_class_with_a_strategy_is_selected_and_trained_as_declared(registry, tmp_path):
    registry("throwaway-joint-rca")(type("JointRCA", (Stella,), {"strategy": "rca", "joint": True,
                                                                 "batch_multiplier": 1.5}))
    tr = trained("throwaway-joint-rca", tmp_path)
    assert tr.cfg.continual.batch_multiplier == 1.5 and tr.batch_size == 6                # 4 x 1.5
    assert len(tr.task_datasets()) == 1                                                      # joint stream
    assert {r["after_task"] for r in tr.results} == {0}
    mem = tr.method.memory.data
    M, N = tr.cfg.num_audio_patches, tr.cfg.num_video_patches
    assert torch.allclose(mem["I_v"], torch.full_like(mem["I_v"], 1.0 / N))               # RCA: uniform I
    assert torch.allclose(mem["I_a"], torch.full_like(mem["I_a"], 1.0 / M))
    assert mem["C_v"].gt(0).any()                                                          # RCA: C from Eq. 4
    assert tr.ctx.avm_opt is not None and tr.ctx.avm_opt.state                             # the AVM trained


def test_the_same_class_with_another_strategy_selects_otherwise(registry, tmp_path):
    registry("throwaway-lpis")(type("ThrowawayLPIS", (Stella,), {"strategy": "lpis"}))
    tr = trained("throwaway-lpis", tmp_path)
    mem = tr.method.memory.data
    assert not mem["C_a"].any() and not mem["C_v"].any()                                    # LPIS: C = 0
    assert not torch.allclose(mem["I_v"], torch.full_like(mem["I_v"], mem["I_v"][0, 0]))    # Eq. 2 importance
    assert len(tr.task_datasets()) == tr.cfg.data.num_tasks                                  # not joint


def test_a_method_without_the_avm_gets_no_avm_optimiser_and_leaves_the_avm_untouched(registry, tmp_path):
    registry("throwaway-random")(type("ThrowawayRandom", (PatchDERpp,), {"strategy": "random"}))
    tr = trained("throwaway-random", tmp_path)
    assert tr.ctx.avm_opt is None
    fresh = Trainer(tr.cfg, RunStore(str(tmp_path / "fresh")).dir(tr.cfg))
    for p, q in zip(tr.ctx.avm.parameters(), fresh.ctx.avm.parameters()):
        assert torch.equal(p, q)
    assert len(tr.method.memory) > 0 and tr.results


@pytest.mark.parametrize("strategy,needs_avm,error", [("lpis", False, "needs_avm = True"),
                                                      ("greedy", True, "not one of")])
def test_register_refuses_traits_that_disagree(registry, strategy, needs_avm, error):
    cls = type("Bad", (Stella,), {"strategy": strategy, "needs_avm": needs_avm})
    with pytest.raises(ValueError, match=error):
        registry("throwaway-bad")(cls)
    assert "throwaway-bad" not in METHODS


def test_registered_methods_declare_the_avm_exactly_when_their_strategy_uses_it():
    assert {n for n, c in METHODS.items() if c.needs_avm} == {"stella", "stella+", "stella++", "lpis", "rca"}
    assert {n for n, c in METHODS.items() if c.joint} == {"multitask"}


def test_method_files_import_other_method_files_only_to_inherit():
    """Shared algorithms live in continual/functional.py; a method file may import another only for
    a base class it extends (DER++ is ER plus a penalty), never for helpers."""
    import ast
    from pathlib import Path

    import stella.continual.methods as pkg

    for path in sorted(Path(pkg.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        bases = {b.id for node in ast.walk(tree) if isinstance(node, ast.ClassDef)
                 for b in node.bases if isinstance(b, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stella.continual.methods."):
                if node.module.rsplit(".", 1)[1] in ("base", "selecting"):
                    continue
                for alias in node.names:
                    assert alias.name in bases, f"{path.name} imports {alias.name} from {node.module} without extending it"
