# TDT Tab. 2, MOT16 (private detections): the benchmark model of retinanet_r34_embed.py (same
# checkpoint) tracking the MOT16 test set at 1080x1920; writes MOTChallenge result files for the
# server under work_dirs/tdt_mot16_test_results/.
#   python tools/test.py configs/tdt/retinanet_r34_embed_mot16-test.py work_dirs/retinanet_r34_embed/iter_500000.pth
# MOT16 test holds the frames of MOT17 test (one copy, older ground truth on the server): the
# MOT17 test config with MOT16's root and output folder. Annotations (mmdet's converter):
#   python "$(python -c 'import mmdet, os; print(os.path.dirname(mmdet.__file__))')/.mim/tools/dataset_converters/mot2coco.py" \
#       -i data/MOT16 -o data/MOT16/annotations
_base_ = ["./retinanet_r34_embed_mot17-test.py"]
test_dataloader = dict(dataset=dict(data_root="data/MOT16/"))
test_evaluator = dict(outfile_prefix="./work_dirs/tdt_mot16_test_results")
