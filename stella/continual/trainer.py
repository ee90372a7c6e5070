"""Resumable task-free continual pre-training (section 3.1, 5.1; Algorithms 2-3).

``Trainer(cfg, run_dir).run()`` streams D_1..D_T through one method, evaluates zero-shot
retrieval on every task's held-out split after each task (acc[t, i]), and checkpoints after
every task and every ``run.checkpoint_every`` steps: model, AVM, both optimisers, the
method's memory and extra models, every RNG state and the stream position. Re-running the
same command after a kill (SIGKILL included) resumes from the last checkpoint and ends
with the same metrics as an uninterrupted run on CPU. The checkpoint it replaces is kept as
``checkpoint.prev.pt``: a damaged ``checkpoint.pt`` is named in a warning and the run resumes
from the previous one (or from the start), which ends with the same metrics.
Clips the benchmark skipped (damaged files of a manifest) are listed in ``skipped.json`` and
counted in ``meta.json``, with one line at the start of training.

Every run starts from the configured pre-trained weights (``cfg.pretrain``, section 5.1; computed
once per preset and cached in the store by :mod:`stella.continual.pretrain`), loaded before the
method is built, so CLS-ER's and ESMER's EMA copies start from them too.
"""
from __future__ import annotations

import logging
import os
import random
import signal
from dataclasses import asdict, replace

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from stella.config import Config, ConfigError
from stella.continual import nonfinite, worker_cache
from stella.continual.build import build_method, stream_batch_size
from stella.continual.distributed import DistInfo
from stella.continual.methods import METHODS
from stella.continual.pretrain import load_pretrained
from stella.continual.stream import JointDataset, Position, batches, num_batches
from stella.data import build_benchmark
from stella.eval.run_eval import evaluate_after_task, summarize_results
from stella.models import build_model
from stella.store import RunDir, RunStore, atomic_torch_save

log = logging.getLogger(__name__)

# Tests of resumption kill the process with SIGKILL right after this optimiser step (0 = never).
_KILL_AFTER_STEP = int(os.environ.get("STELLA_KILL_AFTER_STEP", "0"))


def resolve_method_config(cfg: Config) -> Config:
    """Make the stored config say what the method really does: its batch multiplier (STELLA++'s 1.66x).

    The method's other traits (``strategy``, ``needs_avm``, ``joint``) are read from its class at
    run time; ``continual.method`` names the class, so the stored config determines them too."""
    name = cfg.continual.method
    if name not in METHODS:
        raise ValueError(f"continual.method: unknown method {name!r} (known: {', '.join(METHODS)})")
    cls = METHODS[name]
    cont = cfg.continual
    if cont.visible_budget != "own" and not cls.masks_full_clips:
        full = ", ".join(m for m, c in METHODS.items() if c.masks_full_clips)
        raise ConfigError(f"continual.visible_budget: {cont.visible_budget!r} applies to the methods that train on full "
                          f"clips ({full}), not to {name!r}")
    if cls.batch_multiplier != 1.0 and cont.batch_multiplier == 1.0:
        cont = replace(cont, batch_multiplier=cls.batch_multiplier)
    return replace(cfg, continual=cont)


def pick_device(cfg: Config) -> torch.device:
    if cfg.run.device == "cuda" or (cfg.run.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("run.device: 'cuda' requested but no CUDA device is available")
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _rng_state() -> dict:
    np_state = np.random.get_state()
    return {"python": random.getstate(), "torch": torch.get_rng_state(),
            "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])]}


def _set_rng_state(s: dict) -> None:
    random.setstate(s["python"])
    torch.set_rng_state(s["torch"])
    name, keys, pos, has_gauss, cached = s["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))


class Trainer:
    def __init__(self, cfg: Config, run_dir: RunDir, dist_info: DistInfo | None = None):
        self.cfg = cfg
        self.rd = run_dir
        self.dist = dist_info or DistInfo()
        self.device = pick_device(cfg) if not self.dist.enabled else self.dist.device
        if cfg.run.num_threads:
            torch.set_num_threads(cfg.run.num_threads)
        seed = cfg.run.seed + self.dist.rank
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        self.bench = worker_cache.benchmark(cfg, build_benchmark)         # built afresh unless a prefetch worker keeps it
        if len(self.bench.tasks) != cfg.data.num_tasks:
            raise ConfigError(f"data.num_tasks: {cfg.data.num_tasks} tasks configured, the {self.bench.name} "
                              f"benchmark has {len(self.bench.tasks)}")
        self.skipped = list(self.bench.info.get("skipped", []))
        if self.skipped and self.dist.rank == 0:
            run_dir.save_json("skipped", self.skipped)
            counts = _counts(self.skipped)
            names = [os.path.basename(s["path"]) or s["path"] for s in self.skipped[:3]]
            more = f" and {len(self.skipped) - 3} more" if len(self.skipped) > 3 else ""
            log.warning("%s: %d clips skipped (%s): %s%s, listed in %s", self.bench.name, len(self.skipped),
                        ", ".join(f"{k}={v}" for k, v in counts.items()), ", ".join(names), more,
                        run_dir.file("skipped.json"))
        model, avm = build_model(cfg)
        load_pretrained(cfg, model, avm, run_dir.path.parent, self.device, self.dist)   # before EMA / teacher copies
        model, avm = model.to(self.device), avm.to(self.device)
        self.method = build_method(cfg, model, avm, self.device, seed, self.dist)
        self.ctx = self.method.ctx
        self.batch_size = stream_batch_size(cfg)
        self.pos = Position()
        self.results: list[dict] = []
        self.losses: list[dict] = []
        base = "checkpoint" if self.dist.world == 1 else f"checkpoint.rank{self.dist.rank}"
        self.ckpt, self.ckpt_prev = run_dir.file(f"{base}.pt"), run_dir.file(f"{base}.prev.pt")
        self.load_checkpoint()

    # --- checkpoints ------------------------------------------------------------------
    def state(self) -> dict:
        ctx = self.ctx
        return {"model": ctx.model.state_dict(), "avm": ctx.avm.state_dict(), "opt": ctx.opt.state_dict(),
                "avm_opt": None if ctx.avm_opt is None else ctx.avm_opt.state_dict(),
                "method": self.method.state_dict(),
                "rng": {**_rng_state(), "gen_mask": ctx.gen_mask.get_state(),
                        "gen_select": ctx.gen_select.get_state(), "gen_memory": ctx.gen_memory.get_state()},
                "position": asdict(self.pos), "results": self.results, "losses": self.losses}

    def save_checkpoint(self) -> None:
        atomic_torch_save(self.ckpt, self.state(), keep=self.ckpt_prev)

    def load_checkpoint(self) -> None:
        """Resume from the newest readable checkpoint (all ranks from the same step); none: from the start."""
        good, damaged = {}, []
        for path in (self.ckpt, self.ckpt_prev):
            if not path.exists():
                continue
            try:
                s = torch.load(path, map_location="cpu", weights_only=True)
                good.setdefault(int(s["position"]["step"]), s)
            except Exception as e:       # truncated, zero bytes, not a checkpoint
                damaged.append(f"{path} ({' '.join(str(e).split())[:80] or type(e).__name__})")
                continue
            if not self.dist.enabled:
                break
        steps = set(good)
        if self.dist.enabled:
            every: list = [None] * self.dist.world
            dist.all_gather_object(every, sorted(steps))
            steps = set.intersection(*map(set, every))
        step = max(steps, default=None)
        if damaged:
            log.warning("damaged checkpoint %s; %s", "; ".join(damaged),
                        f"resuming from step {step}" if step is not None else "starting the run from the beginning")
        if step is not None:
            self._load_state(good[step])

    def _load_state(self, s: dict) -> None:
        ctx = self.ctx
        ctx.model.load_state_dict(s["model"])
        ctx.avm.load_state_dict(s["avm"])
        ctx.opt.load_state_dict(s["opt"])
        if ctx.avm_opt is not None:
            ctx.avm_opt.load_state_dict(s["avm_opt"])
        self.method.load_state_dict(s["method"])
        _set_rng_state(s["rng"])
        ctx.gen_mask.set_state(s["rng"]["gen_mask"])
        ctx.gen_select.set_state(s["rng"]["gen_select"])
        ctx.gen_memory.set_state(s["rng"]["gen_memory"])
        self.pos = Position(**s["position"])
        self.results, self.losses = list(s["results"]), list(s["losses"])

    # --- the stream ---------------------------------------------------------------------
    def task_datasets(self) -> list[tuple[str, torch.utils.data.Dataset]]:
        tasks = self.bench.tasks
        if self.method.joint:
            return [("all tasks", JointDataset([t.train for t in tasks]))]
        return [(t.name, t.train) for t in tasks]

    def run(self) -> dict:
        cfg, c = self.cfg, self.cfg.continual
        stream = self.task_datasets()
        for t in range(self.pos.task, len(stream)):
            name, data = stream[t]
            per_epoch = num_batches(len(data), self.batch_size, self.dist.world)
            if per_epoch == 0:
                raise ValueError(f"task {name!r}: {len(data)} clips cannot fill one batch of {self.batch_size}")
            if self.pos.epoch == 0 and self.pos.batch == 0:
                self.method.begin_task(t)
            bar = tqdm(total=per_epoch * c.epochs_per_task, desc=f"{c.method} task {t + 1}/{len(stream)} {name}",
                       disable=not cfg.run.progress or self.dist.rank != 0, leave=False,
                       initial=self.pos.epoch * per_epoch + self.pos.batch)
            for e in range(self.pos.epoch, c.epochs_per_task):
                for i, batch in batches(data, self.batch_size, cfg.run.seed, t, e, self.pos.batch,
                                        self.dist.rank, self.dist.world):
                    where = f"run {self.rd.key}, step {self.pos.step + 1} (task {t + 1} of {len(stream)}, {name!r})"
                    logs = nonfinite.checked(self.method.observe, batch, cfg, where, model=self.ctx.model)
                    self.pos = Position(t, e, i + 1, self.pos.step + 1)
                    self.losses.append({"step": self.pos.step, "task": t, **logs})
                    bar.update(1)
                    if self.pos.step % cfg.run.checkpoint_every == 0:
                        self.save_checkpoint()
                    if self.pos.step == _KILL_AFTER_STEP:
                        os.kill(os.getpid(), signal.SIGKILL)
                self.pos = Position(t, e + 1, 0, self.pos.step)
            bar.close()
            self.method.end_task(t)
            self.after_task(t)
            self.pos = Position(t + 1, 0, 0, self.pos.step)
            self.save_checkpoint()
        return self.finish()

    def after_task(self, t: int) -> None:
        """Evaluate on every task's eval split (no task identity) and keep the weights of this point."""
        if self.dist.rank == 0:
            model = self.method.eval_model()
            rows = evaluate_after_task(model, self.bench, t, self.device)
            self.results.extend(rows)
            self.rd.save_tensors(f"model_after_task{t + 1}", {"model": model.state_dict(),
                                                              "avm": self.ctx.avm.state_dict()})
        if self.dist.enabled:
            dist.barrier()

    def finish(self) -> dict:
        if self.dist.rank != 0:
            return {}
        summary = summarize_results(self.results, joint=self.method.joint)
        mem = self.method.memory
        stream = [name for name, _ in self.task_datasets()]
        meta = {"method": self.cfg.continual.method, "steps": self.pos.step, "batch_size": self.batch_size,
                "memory_items": len(mem), "memory_capacity": mem.capacity, "memory_bytes": mem.nbytes(),
                "extra_bytes": self.method.extra_bytes(), "world_size": self.dist.world,
                "tasks": stream, "last_task": len(stream), "skipped": _counts(self.skipped)}
        self.rd.save_json("results", self.results)
        self.rd.save_json("summary", summary)
        self.rd.save_json("losses", self.losses)
        self.rd.save_json("meta", meta)
        return {"summary": summary, "meta": meta}


def _counts(skipped: list[dict]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in skipped:
        out[s["reason"]] = out.get(s["reason"], 0) + 1
    return dict(sorted(out.items()))


def run_experiment(cfg: Config, results_dir: str | None = None, dist_info: DistInfo | None = None) -> RunDir:
    """Train ``cfg`` into the run store unless a complete run with the same config exists.

    Goes through ``RunStore.run``: a second process asking for the same run waits for the first and
    reuses its result. Under torchrun rank 0 holds the lock and tells the other ranks whether to train.
    """
    cfg = resolve_method_config(cfg)
    store = RunStore(results_dir or cfg.run.results_dir)
    info = dist_info or DistInfo()
    if not info.enabled:
        return store.run(cfg, lambda rd: Trainer(cfg, rd, info).run())

    def decide(train: bool | None) -> bool:
        box = [train]
        dist.broadcast_object_list(box, src=0)
        return bool(box[0])

    if info.rank != 0:                  # the run directory only after rank 0 holds the lock and has cleaned it
        train = decide(None)
        rd = store.dir(cfg)
        if train:
            Trainer(cfg, rd, info).run()
        return rd

    def compute(rd: RunDir) -> None:
        decide(True)
        Trainer(cfg, rd, info).run()

    rd = store.run(cfg, compute)
    if not rd.computed:
        decide(False)
    return rd
