# Runtime shared by every mmdistillmot config: mmdet's scope plus our registrations.
default_scope = 'mmdet'
custom_imports = dict(imports=['mmdistillmot'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # reseeds python/numpy/torch and the dataloader workers from (seed, epoch) every epoch, so
    # that --resume from an epoch checkpoint continues exactly as the uninterrupted run
    exact_resume=dict(type='ExactResumeHook'),
    visualization=dict(type='DetVisualizationHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # nccl on GPUs; without CUDA, tools/train.py and tools/test.py start gloo themselves.
    dist_cfg=dict(backend='nccl'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='DetLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)

log_level = 'INFO'
load_from = None
resume = False
