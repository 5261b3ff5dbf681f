# VSD-MOT (VSD student + DCSD + DSWR, as the main config) with the student tapping the *last decoder
# layer's output* instead of the query vectors going into the decoder. Not a paper setting: an
# ablation of where the semantic features enter MOTRv2 (this repository's first reading).
# The paper's Fig. 2 / 4 feed the student the proposal and track query vectors before the
# decoder, which vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py does (Tables III-V). Here the refined
# vectors feed the last class/box heads and QIM; that layer's box head then trains without the
# denoising queries' box loss (they are never refined). LQMOT / MOT mix, low:high 2:1.
_base_ = ["./vsd-mot_r50_dcsd-dswr_lqmot-mot-2to1.py"]

model = dict(student=dict(query_refiner_position="post_decoder"))
