"""Hand-built ONNX graphs for the YOLOX ONNX converter's tests (made with ``onnx.helper``).

* :func:`write_tiny_graph`: a runnable two-Conv graph (Conv 3x3 + SiLU, Conv 1x1) standing in for
  YOLOX's layout: a folded ConvModule, then a predictor with its own bias.
* :func:`write_layout_graph`: one Conv node per convolution of a real target model (e.g. mmdet's
  YOLOX-Nano, 113 nodes), in its execution order, with random weights of the right shapes and
  attributes. Every node reads the graph input, so the file loads (the converter only reads
  it) but is not meant to run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from mmdistillmot.models.model_converters import ConvSlot

OPSET = 11


def _model(nodes, inputs, outputs, initialisers) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs, initializer=initialisers)
    model = helper.make_model(
        graph, producer_name="mmdistillmot-tests", opset_imports=[helper.make_opsetid("", OPSET)]
    )
    model.ir_version = 7  # what onnxruntime 1.30 reads for opset 11
    return model


def conv_node(
    name: str,
    x: str,
    y: str,
    weight: str,
    bias: str | None,
    kernel: int,
    stride: int = 1,
    pad: int = 0,
    group: int = 1,
) -> onnx.NodeProto:
    """A Conv node as PyTorch's exporter writes it (explicit pads, strides, group)."""
    inputs = [x, weight] + ([bias] if bias else [])
    return helper.make_node(
        "Conv",
        inputs,
        [y],
        name=name,
        kernel_shape=[kernel, kernel],
        strides=[stride, stride],
        pads=[pad] * 4,
        dilations=[1, 1],
        group=group,
    )


def write_tiny_graph(
    path: Path,
    w_a: np.ndarray,
    b_a: np.ndarray | None,
    w_b: np.ndarray,
    b_b: np.ndarray,
    stride_b: int = 1,
    with_bn: bool = False,
) -> Path:
    """``x [1, 3, 8, 8]`` -> Conv_a (3x3, pad 1) -> SiLU -> Conv_b (1x1) -> ``y``.

    ``with_bn`` puts an (unfolded) BatchNormalization node after Conv_a.
    """
    init = [numpy_helper.from_array(w_a, "w_a"), numpy_helper.from_array(w_b, "w_b")]
    init.append(numpy_helper.from_array(b_b, "b_b"))
    if b_a is not None:
        init.append(numpy_helper.from_array(b_a, "b_a"))
    nodes = [conv_node("Conv_a", "x", "a", "w_a", "b_a" if b_a is not None else None, 3, pad=1)]
    after_a = "a"
    if with_bn:
        channels = w_a.shape[0]
        for name, value in (("s", 1.0), ("o", 0.0), ("m", 0.0), ("v", 1.0)):
            init.append(numpy_helper.from_array(np.full(channels, value, np.float32), f"bn_{name}"))
        nodes.append(
            helper.make_node(
                "BatchNormalization",
                ["a", "bn_s", "bn_o", "bn_m", "bn_v"],
                ["a_bn"],
                name="BatchNormalization_1",
                epsilon=1e-3,
            )
        )
        after_a = "a_bn"
    nodes += [
        helper.make_node("Sigmoid", [after_a], ["a_sig"], name="Sigmoid_1"),
        helper.make_node("Mul", [after_a, "a_sig"], ["a_act"], name="Mul_1"),
        conv_node("Conv_b", "a_act", "y", "w_b", "b_b", w_b.shape[-1], stride=stride_b),
    ]
    model = _model(
        nodes,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        init,
    )
    onnx.save(model, str(path))
    return path


def write_layout_graph(
    path: Path,
    slots: Sequence[ConvSlot],
    seed: int = 0,
    mutate: Callable[[int, np.ndarray], np.ndarray] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """One Conv node per slot, in order, with random weights ``[C_out, C_in / g, k, k]`` + bias.

    Args:
        path: The ``.onnx`` file to write.
        slots: The target's convolutions (``yolox_conv_slots(model)``).
        seed: Seed of the random weights.
        mutate: ``(index, weight) -> weight`` applied to each node's weight before writing
            (e.g. to give one node a wrong shape).

    Returns:
        The (weight, bias) written for each node.
    """
    rng = np.random.default_rng(seed)
    nodes, init, written = [], [], []
    for i, slot in enumerate(slots):
        conv = slot.conv
        weight = rng.standard_normal(tuple(conv.weight.shape)).astype(np.float32)
        bias = rng.standard_normal(conv.weight.shape[0]).astype(np.float32)
        if mutate is not None:
            weight = mutate(i, weight)
        init += [numpy_helper.from_array(weight, f"w{i}"), numpy_helper.from_array(bias, f"b{i}")]
        nodes.append(
            conv_node(
                f"Conv_{i}",
                "images",
                f"y{i}",
                f"w{i}",
                f"b{i}",
                kernel=conv.kernel_size[0],
                stride=conv.stride[0],
                pad=int(conv.padding[0]),
                group=conv.groups,
            )
        )
        written.append((weight, bias))
    model = _model(
        nodes,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 416, 416])],
        [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None) for node in nodes],
        init,
    )
    onnx.save(model, str(path))
    return written
