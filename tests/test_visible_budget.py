"""The token budget the book shows (stella.selection.budget.visible_tokens) is what a training step's encoder sees.

Every registered method is built as the trainer builds it (stella.continual.build) and observes two stream
batches (the second replays from its memory); every training pass of the backbone records how many audio /
video patches it kept and how many its encoder saw. Each must equal the budget table's row of the method, under
both readings of the masking after selection and, for the full-clip methods, at STELLA's visible count."""
import pytest
import torch

from stella.config import load_config
from stella.continual import METHODS, resolve_method_config
from stella.continual.memory_count import build_counted, synthetic_batch
from stella.selection.budget import visible_tokens

SETTINGS = {"selection.mask_of=selected": "any", "selection.mask_of=full": "selecting",
            "continual.visible_budget=stella": "full-clip"}


def _cases():
    for m, cls in METHODS.items():
        for setting, who in SETTINGS.items():
            if who == "any" or (who == "selecting") == (cls.strategy != "none") and (who != "full-clip" or
                                                                                     cls.masks_full_clips):
                yield m, setting


def _seen(model) -> list[tuple[int, int, int, int]]:
    """Wrap ``model.forward_patches``: each call appends (kept_a, kept_v, visible_a, visible_v) of its first clip."""
    seen, real = [], model.forward_patches

    def forward_patches(xa, xv, *args, **kwargs):
        out = real(xa, xv, *args, **kwargs)
        seen.append((xa.shape[1], xv.shape[1], int((~out.mask_a[0]).sum()), int((~out.mask_v[0]).sum())))
        return out
    model.forward_patches = forward_patches
    return seen


@pytest.mark.parametrize("method, setting", list(_cases()))
def test_budget_table_is_what_the_encoder_sees(one_thread, method, setting):
    cfg = resolve_method_config(load_config("smoke", [f"continual.method={method}", setting, "pretrain.source=none"]))
    torch.manual_seed(0)
    m, B = build_counted(cfg)
    seen = _seen(m.ctx.model)
    m.begin_task(0)
    for _ in range(2):
        m.observe(synthetic_batch(cfg, B))
    want = visible_tokens(cfg, METHODS[method].strategy)
    assert seen, f"{method}: no training pass of the backbone recorded"
    assert set(seen) == {(want["kept_a"], want["kept_v"], want["visible_a"], want["visible_v"])}, (method, setting)
