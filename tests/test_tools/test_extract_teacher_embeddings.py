"""tools/distill/extract_teacher_embeddings.py: correctness, resumption, refusals, torchrun.

The command line's ``main`` is run in this process (``runpy``: the tool is a script, not a
module); the work it calls is ``mmdistillmot.apis.teacher_extraction``.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mmdistillmot.apis import teacher_extraction
from mmdistillmot.apis.teacher_extraction import ExtractionError, teacher_config
from mmdistillmot.datasets.teacher_embedding_store import TeacherEmbeddingStore
from mmdistillmot.models.teachers.osnet_teacher import OSNetTeacher
from mmdistillmot.models.teachers.weights import file_sha256

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "distill" / "extract_teacher_embeddings.py"
STORE_FILES = ("embeddings.npy", "ann_ids.npy", "image_ids.npy", "boxes.npy", "fingerprint.json")
CROP = (32, 16)

main = runpy.run_path(str(TOOL), run_name="extract_teacher_embeddings")["main"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Seven 48x64 images (one without boxes), OSNet x0.25 weights and a teacher config."""
    root = tmp_path_factory.mktemp("extract")
    rng = np.random.default_rng(0)
    (root / "img" / "seq").mkdir(parents=True)
    images, annotations = [], []
    ann_id = 100
    for image_id in range(1, 8):
        name = f"seq/{image_id:06d}.png"
        cv2.imwrite(str(root / "img" / name), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        images.append(dict(id=image_id, file_name=name, width=64, height=48, frame_id=image_id))
        for _ in range(0 if image_id == 4 else 3):
            x, y = float(rng.uniform(0, 40)), float(rng.uniform(0, 20))
            w, h = float(rng.uniform(4, 24)), float(rng.uniform(8, 28))
            annotations.append(
                dict(id=ann_id, image_id=image_id, category_id=1, bbox=[x, y, w, h], area=w * h)
            )
            ann_id += 7  # ids need not be contiguous
    extra = dict(image_id=2, category_id=1, bbox=[1, 1, 10, 10], area=100)
    annotations += [
        dict(id=1, iscrowd=1, **extra),  # crowd: skipped
        dict(id=2, ignore=True, **extra),  # ignored: skipped
        dict(id=3, **dict(extra, bbox=[1, 1, 0.5, 10])),  # under a pixel: skipped
    ]
    ann_file = root / "ann.json"
    ann_file.write_text(
        json.dumps(
            dict(
                videos=[dict(id=1, name="seq")],
                images=images,
                annotations=annotations,
                categories=[dict(id=1, name="pedestrian")],
            )
        )
    )
    torch.manual_seed(0)
    weights = root / "osnet_x0_25_random.pth"
    torch.save(OSNetTeacher(arch="osnet_x0_25", allow_random_init=True).model.state_dict(), weights)
    config = root / "teacher.py"
    config.write_text(
        f"teacher = dict(type='OSNetTeacher', arch='osnet_x0_25', weights={str(weights)!r}, "
        f"crop_size={CROP}, precision='fp32')\n"
    )
    return dict(
        root=root, ann_file=str(ann_file), img_root=str(root / "img"), config=str(config),
        weights=str(weights), images=images, annotations=annotations,
    )  # fmt: skip


def run(dataset: dict, out_dir: Path, *extra: str) -> int:
    args = [dataset["config"], dataset["ann_file"], dataset["img_root"], str(out_dir)]
    # one math thread, as torchrun gives each process: CPU results depend on the thread count;
    # on the CPU whatever the machine has: the stores' bytes are compared with CPU runs
    options = ["--batch-size", "2", "--chunk-size", "2", "--threads", "1", "--device", "cpu"]
    return main([*args, *options, *extra])


def store_bytes(out_dir: Path) -> dict[str, bytes]:
    return {name: (out_dir / name).read_bytes() for name in STORE_FILES}


class _TeacherBuilt(Exception):
    """Stops an extraction once its teacher's device is known."""


def test_compared_runs_name_the_cpu_even_where_a_gpu_is_visible(
    dataset: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stores are compared byte for byte with CPU runs: ``run`` must not follow the GPU.

    With CUDA reported available, the tool's default device is ``cuda:LOCAL_RANK``; ``run``
    (every store comparison here) and the torchrun test pass ``--device cpu``.
    """
    devices: list[torch.device] = []

    def record_device(cfg, precision="fp32", seed=0, device="cpu"):
        devices.append(torch.device(device))
        raise _TeacherBuilt

    monkeypatch.setattr(teacher_extraction.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(teacher_extraction, "build_teacher", record_device)
    with pytest.raises(_TeacherBuilt):
        run(dataset, tmp_path / "forced")
    assert devices == [torch.device("cpu")]
    # without --device the GPU would be taken (what forcing the CPU above guards against)
    with pytest.raises(_TeacherBuilt):
        main([dataset["config"], dataset["ann_file"], dataset["img_root"], str(tmp_path / "d")])
    assert devices[-1] == torch.device("cuda:0")


@pytest.fixture(scope="module")
def single_run(dataset: dict) -> Path:
    out_dir = dataset["root"] / "single"
    assert run(dataset, out_dir) == 0
    return out_dir


def test_store_holds_the_teachers_embedding_of_every_kept_box(dataset, single_run) -> None:
    store = TeacherEmbeddingStore(
        str(single_run),
        ann_file=dataset["ann_file"],
        expected_teacher=dict(name="OSNetTeacher", arch="osnet_x0_25", weights=dataset["weights"]),
    )
    kept = [a for a in dataset["annotations"] if a["id"] > 3]
    assert sorted(store.ann_ids.tolist()) == sorted(a["id"] for a in kept) and len(store) == 18
    assert store.fingerprint["extraction"]["skipped"] == dict(ignore=1, crowd=1, degenerate=1)
    assert store.fingerprint["teacher"]["weights_sha256"] == file_sha256(dataset["weights"])
    assert store.fingerprint["teacher"]["input_size"] == list(CROP)
    assert not (single_run / "partial").exists()
    # independent check: the teacher run image by image on frames read by OpenCV
    teacher = OSNetTeacher(arch="osnet_x0_25", weights=dataset["weights"], crop_size=CROP)
    for image in dataset["images"]:
        anns = [a for a in kept if a["image_id"] == image["id"]]
        if not anns:
            assert store.image_rows(image["id"]).start == store.image_rows(image["id"]).stop
            continue
        frame = cv2.imread(str(Path(dataset["img_root"]) / image["file_name"]))
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)])
        expected = teacher([torch.from_numpy(frame).permute(2, 0, 1)], [boxes])[0].numpy()
        rows = store.rows_of_ann_ids(np.array([a["id"] for a in anns]))
        assert np.allclose(store.get(rows), expected, atol=2e-3)  # float16 storage
        assert np.allclose(store.boxes[rows], boxes.numpy())


def test_fingerprint_records_the_precision_that_ran(dataset, single_run, tmp_path) -> None:
    """Issue 14 item 10: fp32 by default (whatever the config says), the resolved dtype kept."""
    teacher = json.loads((single_run / "fingerprint.json").read_text())["teacher"]
    assert (teacher["precision"], teacher["compute_dtype"]) == ("fp32", "float32")
    config = tmp_path / "auto_teacher.py"  # a config asking for 'auto' still extracts in fp32
    config.write_text(Path(dataset["config"]).read_text().replace("'fp32'", "'auto'"))
    auto = tmp_path / "auto_store"
    assert run(dict(dataset, config=str(config)), auto) == 0
    assert json.loads((auto / "fingerprint.json").read_text())["teacher"]["compute_dtype"] == (
        "float32"
    )
    bf16 = tmp_path / "bf16_store"
    assert run(dataset, bf16, "--precision", "bf16") == 0
    teacher = json.loads((bf16 / "fingerprint.json").read_text())["teacher"]
    assert (teacher["precision"], teacher["compute_dtype"]) == ("bf16", "bfloat16")


def test_interrupted_run_resumes_to_identical_files(dataset, single_run, monkeypatch) -> None:
    out_dir = dataset["root"] / "interrupted"
    calls = {"n": 0}
    real_run_chunk = teacher_extraction.run_chunk

    def crash_on_third_chunk(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("simulated interruption")
        return real_run_chunk(*args, **kwargs)

    monkeypatch.setattr(teacher_extraction, "run_chunk", crash_on_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        run(dataset, out_dir)
    assert sorted(os.listdir(out_dir / "partial")) == [
        "chunk_000000.npz", "chunk_000001.npz", "meta.json"
    ]  # fmt: skip
    assert not (out_dir / "fingerprint.json").exists()
    assert run(dataset, out_dir) == 1  # partial run found: needs --resume or --overwrite
    assert run(dataset, out_dir, "--resume", "--batch-size", "3") == 1  # other settings
    calls["n"] = -100  # no more crashes
    assert run(dataset, out_dir, "--resume") == 0
    assert calls["n"] == -100 + 1  # only the unfinished third chunk ran again
    assert store_bytes(out_dir) == store_bytes(single_run)
    assert run(dataset, out_dir, "--resume") == 0  # complete: nothing to do
    assert run(dataset, out_dir) == 1  # complete store: refuses to overwrite
    assert run(dataset, out_dir, "--overwrite") == 0
    assert store_bytes(out_dir) == store_bytes(single_run)


def test_bad_inputs_name_the_problem(dataset, tmp_path, capsys) -> None:
    bad = json.loads(Path(dataset["ann_file"]).read_text())
    bad["annotations"][4]["image_id"] = 99
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(bad))
    args = [dataset["config"], str(bad_file), dataset["img_root"], str(tmp_path / "out")]
    assert main(args) == 1
    assert "bad.json': annotations[4]" in capsys.readouterr().err
    args = [dataset["config"], dataset["ann_file"], str(tmp_path), str(tmp_path / "out")]
    assert main(args) == 1
    assert "000001.png' not found" in capsys.readouterr().err
    not_a_teacher = tmp_path / "model.py"
    not_a_teacher.write_text("model = dict(type='RetinaNet')\n")
    with pytest.raises(ExtractionError, match="no teacher found"):
        teacher_config(Config.fromfile(str(not_a_teacher)))
    args = [dataset["config"], dataset["ann_file"], dataset["img_root"], dataset["img_root"]]
    assert main(args) == 1
    assert "is a source directory" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_cpu_processes_write_the_same_store(dataset, single_run) -> None:
    out_dir = dataset["root"] / "torchrun"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(TOOL), dataset["config"], dataset["ann_file"], dataset["img_root"], str(out_dir),
        "--batch-size", "2", "--chunk-size", "2", "--device", "cpu", "--threads", "1",
    ]  # fmt: skip
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert store_bytes(out_dir) == store_bytes(single_run)
