"""``tools/train.py`` and ``tools/test.py`` destroy their process group after a normal run.

Without it, gloo's worker threads outlive the interpreter and a process that finished its work
can abort at exit ("terminate called without an active exception", SIGABRT): torchrun then
reports the whole run as failed, as CI saw once in ``test_dist_test_metrics.py`` after the
metrics were printed. That abort is timing-dependent, so this checks the cause instead: after
``main`` returns, no process group is left. The runner is a stand-in (the group's life is what
is under test, not the training), the group is a real one-process gloo group, and all of it
runs in a subprocess so that this pytest process never holds a group.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from dist_testing import REPO, TOOLS, free_port

SCRIPT = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tools!r})
    import torch.distributed as dist
    from mmengine.config import Config
    import train, test

    class FakeRunner:
        def train(self):
            assert dist.is_initialized()
        def test(self):
            assert dist.is_initialized()

    def start_group(cfg):
        dist.init_process_group(
            "gloo", init_method="tcp://127.0.0.1:{port}", rank=0, world_size=1
        )
        return None

    for tool in (train, test):
        tool.build_config = lambda args: Config(dict(launcher="pytorch"))
        tool.setup_cpu_distributed = start_group
        tool.Runner.from_cfg = staticmethod(lambda cfg: FakeRunner())
        tool.main(["unused_config.py", "--launcher", "pytorch"])
        print(tool.__name__, "group left:", dist.is_initialized())
    """
)


def test_train_and_test_leave_no_process_group_after_a_normal_run() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(tools=str(TOOLS), port=free_port())],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train group left: False" in result.stdout, result.stdout
    assert "test group left: False" in result.stdout, result.stdout
