#!/usr/bin/env bash
# The measurements behind the default model's card, on the 7 held-out development sequences.
#
#   benchmarks/model_card.sh WEIGHTS SEQUENCES OUT [--trackers]
#
# WEIGHTS: 'default' or a weights folder; SEQUENCES: the development sequences folder (never
# shipped); OUT: output folder. Writes, per experiment, the command's JSON and printed table:
#   oracle.json/.txt        ground truth jittered by 0.25 (30 frames per sequence), with mask J,
#                           and the same frames from near-perfect inputs (ground truth jittered
#                           by 0.05; the frames whose input IoU is >= 0.85: before, after, the
#                           share made worse), both split into boxes from masks (DAVIS) and
#                           boxes drawn by hand (OTB, VOT, UAV123) and by target size
#   card-oracle.json/.txt   the same numbers as the model card's tables (benchmarks/card_oracle.py);
#                           with DAVIS=<root of a DAVIS-2016 tree> also on the 5 DAVIS-2016 train
#                           videos the stage-4 config holds out
#   eval/ + eval.txt        (--trackers) CSRT, MIL, KCF, MedianFlow, MOSSE with and without the
#                           refiner, every frame, one thread, gate off; needs the contrib trackers.
#                           OpenCV's deep trackers NanoTrack and VitTrack run beside them when
#                           their model files are found ($ALPHA_REFINE_TRACKER_MODELS or the cache
#                           folder; `alpha-refine download-trackers`), and are skipped with a
#                           message otherwise
set -euo pipefail
weights=$1 sequences=$2 out=$3
held=otb_Crossing,otb_Girl,vot2014_car,uav123_10fps_wakeboard7,davis2016_car-roundabout,davis2016_dog,davis2016_libby
common=(--dataset "plain:$sequences" --sequences "$held" --refiner "$weights" --threads 1 --no-progress)
mkdir -p "$out"
alpha-refine oracle "${common[@]}" --frames-per-sequence 30 --masks --near-perfect 0.05 \
    --out "$out/oracle.json" | tee "$out/oracle.txt"
python "$(dirname "$0")/card_oracle.py" --sequences "$sequences" ${DAVIS:+--davis "$DAVIS"} \
    --refiner "$weights" --out "$out/card-oracle.json" | tee "$out/card-oracle.txt"
if [[ "${4:-}" == "--trackers" ]]; then
    trackers=csrt,mil,kcf,medianflow,mosse
    for deep in nano vit; do
        if python -c "import sys; from alpha_refine.trackers import available_trackers as a; sys.exit('$deep' not in a())"; then
            trackers="$trackers,$deep"
        else
            echo "model_card.sh: $deep skipped: its model files are not found (alpha-refine download-trackers $deep)" >&2
        fi
    done
    alpha-refine eval "${common[@]}" --tracker "$trackers" --gate off \
        --workers 2 --out "$out/eval" | tee "$out/eval.txt"
fi
