#!/usr/bin/env bash
# Train the GRID s1 models (LipNet and Conformer side by side on one GPU) and export slim weights.
# Used for the shipped model; RESULTS.md gives the exact call.
#   DATA=data/grid_s1 SPLITS=../shared/grid/splits RUNS=runs EXPORT=exported bash benchmarks/train_grid.sh
set -uo pipefail
DATA=${DATA:-data/grid_s1}; SPLITS=${SPLITS:-../shared/grid/splits}; RUNS=${RUNS:-runs}; EXPORT=${EXPORT:-exported}
LIPNET_EPOCHS=${LIPNET_EPOCHS:-150}; CONFORMER_EPOCHS=${CONFORMER_EPOCHS:-100}; MAX_TIME=${MAX_TIME:-00:00:08:30}
mkdir -p "$EXPORT"
WORKERS=${WORKERS:-6}
common=(--data.root "$DATA" --data.train_list "$SPLITS/s1_train.txt" --data.val_list "$SPLITS/s1_val.txt"
        --data.num_workers "$WORKERS" --trainer.max_time "$MAX_TIME" --trainer.enable_progress_bar false)
python3 -m lipread.cli train --config configs/grid_lipnet.yaml "${common[@]}" \
  --trainer.max_epochs "$LIPNET_EPOCHS" --trainer.default_root_dir "$RUNS/grid_lipnet" > "$EXPORT/lipnet.log" 2>&1 &
python3 -m lipread.cli train --config configs/grid_conformer.yaml "${common[@]}" \
  --trainer.max_epochs "$CONFORMER_EPOCHS" --trainer.default_root_dir "$RUNS/grid_conformer" > "$EXPORT/conformer.log" 2>&1 &
wait
for name in lipnet conformer; do
  python3 - "$RUNS/grid_$name" "$EXPORT/$name" >> "$EXPORT/$name.log" 2>&1 <<'PY'
import csv, glob, sys
from lipread.pretrained import export
run, out = sys.argv[1:]
rows = [r for r in csv.DictReader(open(f"{run}/metrics.csv")) if r.get("val_wer")]
for r in rows:
    print(f"epoch {r['epoch']:>4} step {r['step']:>6} val_loss {float(r['val_loss']):.4f} val_wer {float(r['val_wer']):.4f} val_cer {float(r['val_cer']):.4f}")
best = sorted(glob.glob(f"{run}/checkpoints/best-*.ckpt"))[-1]
print("best", best)
print("exported", export(best, out))
PY
done
