#!/usr/bin/env bash
# Shortest meaningful GPU check of the CIFAR-10 presets (run it where there is a GPU; not run on CPU).
#
#   DATA_ROOT=/data INCEPTION_WEIGHTS=/models/weights-inception-2015-12-05-6726825d.pth \
#     bash benchmarks/gpu_presets_check.sh
#
# 1. +experiment=cifar10_sngan (Mimicry's SNGAN-32) for 2,000 iterations (10,000 D steps), then FID
#    of 10,000 samples against 10,000 training images, once (eval.repeats=1). The preset's own
#    evaluation is 50k/50k over 3 seeds; 10k/10k here keeps the check short, and gives a higher FID
#    than 50k/50k would for the same generator. The linear LR decay runs over these 2,000 iterations.
#    What to look at: status completed, a finite FID (far above the published 16.77 after 2% of the
#    run), and seconds per iteration, which times 100,000 gives the full run's hours.
# 2. With two or more GPUs: 200 iterations of the same preset under DDP on 2 GPUs, which exercises
#    SyncBatchNorm (trainer.sync_batchnorm=auto turns it on) and batch_size_is=global (32 per GPU);
#    the CPU tests cannot, because PyTorch's SyncBatchNorm needs GPUs.
#
# Environment: DATA_ROOT (holds cifar-10-batches-py; default: data), INCEPTION_WEIGHTS (optional
# local Inception file for offline nodes), OUT (default: runs/gpu_check), PYTHON (default: python).
set -euo pipefail

DATA_ROOT=${DATA_ROOT:-data}
OUT=${OUT:-runs/gpu_check}
PYTHON=${PYTHON:-python}
WEIGHTS=()
if [[ -n "${INCEPTION_WEIGHTS:-}" ]]; then
  WEIGHTS=("evaluator.feature_extractor_weights_path=${INCEPTION_WEIGHTS}")
fi

GPUS=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())")
if [[ "$GPUS" -lt 1 ]]; then
  echo "gpu_presets_check: no CUDA GPU visible; this check needs one" >&2
  exit 2
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true

COMMON=(+experiment=cifar10_sngan "dataset.root=${DATA_ROOT}" "${WEIGHTS[@]}"
        evaluator.num_samples=10000 evaluator.num_real=10000 eval.repeats=1 eval.every=null
        checkpoint.every=null trainer.enable_progress_bar=false)

echo "== 1. SNGAN preset, 2,000 iterations, FID 10k/10k on one GPU"
"$PYTHON" -m ganbench.train "${COMMON[@]}" iterations=2000 accelerator.devices=1 \
  "hydra.run.dir=${OUT}/sngan_2k"

if [[ "$GPUS" -ge 2 ]]; then
  echo "== 2. SNGAN preset, 200 iterations, DDP on 2 GPUs (SyncBatchNorm, global batch 64)"
  "$PYTHON" -m ganbench.train "${COMMON[@]}" iterations=200 accelerator=ddp accelerator.devices=2 \
    "hydra.run.dir=${OUT}/sngan_ddp"
fi

"$PYTHON" - "$OUT" <<'PY'
import json
import sys
from pathlib import Path

for run in sorted(Path(sys.argv[1]).iterdir()):
    s = json.loads((run / "summary.json").read_text())
    m = s.get("metrics", {})
    per_it = s["wall_seconds"] / max(s["iterations"], 1)
    print(f"{run.name}: {s['status']}, {s['iterations']} iterations in {s['wall_seconds']:.0f} s "
          f"({per_it:.3f} s/iteration incl. evaluation), FID {m.get('fid', float('nan')):.2f}, "
          f"KID {m.get('kid', float('nan')):.4f}, IS {m.get('is', float('nan')):.2f}")
PY
