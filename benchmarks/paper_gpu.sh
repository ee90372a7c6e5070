#!/usr/bin/env bash
# The GPU check at the paper's geometry (ViT-B, 4 frames of 224 x 224, 1024 x 128 fbank frames), no videos needed:
#   1. the backbone step, full input vs random half vs STELLA's selection (fp32 and bf16 autocast), batch 48 (Table 5);
#   2. Table 2: every method at the paper's measuring batch 9 (STELLA++ 15), one method at a time so that
#      CUDA's max_memory_allocated is that method's own, under both masking readings for the selecting methods;
#   3. a short end-to-end run of the paper preset (2 tasks of 4 classes, 2 epochs) on the GPU.
# The clips are the embedded synthetic benchmark rendered at that geometry and the weights random
# (pretrain.source=none): memory and step time do not depend on either. Each part is capped by `timeout`.
#
#   bash benchmarks/paper_gpu.sh                 # writes gpu-check/*.txt and gpu-check/run.json
#   OUT=dir PY=.venv/bin/python DEVICE=cuda STEPS=6 BATCH=9 bash benchmarks/paper_gpu.sh
# run.json (machine-readable, for the book: stella.report.gpu_check) holds the device, the UTC date, the
# versions, the settings and each part's exit status (124: stopped by its timeout); the figures are in the .txt files.
set -u
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
OUT=${OUT:-gpu-check}
DEVICE=${DEVICE:-cuda}
PRESET=${PRESET:-paper}
STEPS=${STEPS:-6}
BATCH=${BATCH:-9}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
DATA=(data.dataset=synthetic data.manifest= pretrain.source=none)
SETS=(); for s in "${DATA[@]}"; do SETS+=(--set "$s"); done
log() { echo "== $* ($(date -u +%T))"; }
STARTED=$(date -u +%FT%TZ)
declare -A STATUS

{
  log environment
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PY" -c "import torch, timm, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'timm', timm.__version__,
'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
} 2>&1 | tee "$OUT/environment.txt"

log "1. backbone step at the preset's training batch (paper: 48)" | tee "$OUT/backbone.txt"
timeout 120 "$PY" -m benchmarks.bench_model --preset "$PRESET" --device "$DEVICE" --repeats 5 "${DATA[@]}" 2>&1 | tee -a "$OUT/backbone.txt"
STATUS[backbone]=${PIPESTATUS[0]}

log "2. Table 2 at batch $BATCH (STELLA++ 1.66x), one method at a time" | tee "$OUT/table2.txt"
timeout 240 "$PY" -m benchmarks.bench_methods --preset "$PRESET" --device "$DEVICE" --steps "$STEPS" --alone \
    --methods finetune er mir derpp gmed clser lump esmer stella stella+ stella++ "${SETS[@]}" \
    --set continual.batch_size="$BATCH" 2>&1 | tee -a "$OUT/table2.txt"
STATUS[table2]=${PIPESTATUS[0]}
timeout 80 "$PY" -m benchmarks.bench_methods --preset "$PRESET" --device "$DEVICE" --steps "$STEPS" --alone \
    --methods stella stella+ stella++ "${SETS[@]}" --set continual.batch_size="$BATCH" \
    --set selection.mask_of=selected 2>&1 | tee -a "$OUT/table2.txt"
STATUS[table2_selected]=${PIPESTATUS[0]}

log "3. the paper preset end to end (2 tasks x 4 classes x 24 clips, 2 epochs, batch 48)" | tee "$OUT/train.txt"
RUNS=$(mktemp -d)
start=$(date +%s)
timeout 110 "$PY" -m stella.cli train --method stella --preset "$PRESET" --results "$RUNS" "${SETS[@]}" \
    --set run.device="$DEVICE" --set data.num_tasks=2 --set data.classes_per_task=4 --set data.train_per_class=24 \
    --set data.eval_per_class=5 --set continual.epochs_per_task=2 --set run.progress=false 2>&1 | tee -a "$OUT/train.txt"
STATUS[train]=${PIPESTATUS[0]}
echo "wall $(( $(date +%s) - start )) s" | tee -a "$OUT/train.txt"
find "$RUNS" -name summary.json -exec cat {} \; >> "$OUT/train.txt" 2>/dev/null
rm -rf "$RUNS"
PARTS=$(for k in "${!STATUS[@]}"; do printf '%s=%s ' "$k" "${STATUS[$k]}"; done)
"$PY" - "$OUT/run.json" "$STARTED" "$PRESET" "$DEVICE" "$STEPS" "$BATCH" "$PARTS" <<'PY'
import json, os, sys, torch
path, started, preset, device, steps, batch, parts = sys.argv[1:]
cuda = torch.cuda.is_available() and device == "cuda"
record = {"script": "benchmarks/paper_gpu.sh", "started": started, "preset": preset, "device": device,
          "gpu": torch.cuda.get_device_name(0) if cuda else None, "torch": torch.__version__,
          "cuda": torch.version.cuda if cuda else None, "steps": int(steps), "batch": int(batch),
          "status": {k: int(v) for k, v in (p.split("=") for p in parts.split())}}
with open(path + ".tmp", "w") as f:
    json.dump(record, f, indent=2)
os.replace(path + ".tmp", path)
PY
log done
