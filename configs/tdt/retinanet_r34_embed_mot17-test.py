# TDT Tab. 2, MOT17 (private detections): the benchmark model of retinanet_r34_embed.py (same
# checkpoint) tracking the MOT17 test set at 1080x1920; writes MOTChallenge result files for the
# server under work_dirs/tdt_mot17_test_results/.
#   python tools/test.py configs/tdt/retinanet_r34_embed_mot17-test.py work_dirs/retinanet_r34_embed/iter_500000.pth
_base_ = ["./retinanet_r34_embed.py", "../_base_/datasets/mot17_track.py"]
# FairMOT's JDETracker threshold for MOT16/17 (reference.md)
model = dict(tracker=dict(obj_score_thr=0.4))
test_dataloader = dict(_delete_=True, **_base_.mot17_test_dataloader)
test_evaluator = dict(_delete_=True, **_base_.mot17_test_evaluator)
