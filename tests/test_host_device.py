"""Host/device assumptions, caught on a CPU.

Two crashes reached a GPU before any test saw them: the raw torch floor handed the latency
phase's CUDA tensor to NumPy, and JAX's GPU facts used `jax.extend` without importing it.
Neither needs a GPU to show: the torch tests hand every phase a tensor NumPy cannot take
(as it cannot take a CUDA one), and the JAX test runs the GPU branch's code on the CPU.
"""

from __future__ import annotations

import pytest

from bench import backends
from tests.test_backends import python_json

pytestmark = pytest.mark.slow

DEVICE_ONLY = """
    import json
    import numpy as np
    import torch
    import keras
    from bench import archs, styles
    from bench.measure import trained
    from bench.config import RunConfig, TrainConfig

    REFUSAL = "can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to host memory first."

    class DeviceOnly(torch.Tensor):
        # A CPU tensor that NumPy cannot take, as it cannot take a CUDA one; .cpu() gives a plain one.
        def __array__(self, *args, **kwargs):
            raise TypeError(REFUSAL)
        def numpy(self, *args, **kwargs):
            raise TypeError(REFUSAL)
        def cpu(self, *args, **kwargs):
            return torch.Tensor.cpu(self.as_subclass(torch.Tensor), *args, **kwargs)

    def device_only(value):
        return torch.as_tensor(np.asarray(value, np.float32)).as_subclass(DeviceOnly)

    try:  # the stand-in must refuse, or the test below could not fail
        np.asarray(device_only(np.zeros(2)))
        refuses = False
    except TypeError:
        refuses = True

    to_tensor = keras.ops.convert_to_tensor
    keras.ops.convert_to_tensor = lambda value, *args, **kwargs: to_tensor(value, *args, **kwargs).as_subclass(DeviceOnly)
    images = np.random.default_rng(0).random((128, 28, 28, 1), dtype=np.float32)
    errors, latencies = {}, {}
    for arch in ("mlp", "cnn"):
        spec = archs.default_spec(arch)
        config = RunConfig(style="functional", arch=spec, backend="torch", isolation="inline",
                           train=TrainConfig(latency_repeats=1, latency_budget_ms=0))
        for style in styles.STYLE_NAMES:
            model, record = styles.build(style, spec), {}
            try:
                trained.latency_phases(model, images, config, record)
                trained.save_load_phase(model, spec, device_only(images[:16]), record)
            except Exception as error:
                errors[f"{style}/{arch}"] = f"{type(error).__name__}: {error}"[:300]
                continue
            latencies[f"{style}/{arch}"] = {k: v for k, v in record.items() if k.endswith("_ms_b1") or k.startswith("save_load")}
    print(json.dumps({"refuses": refuses, "errors": errors, "latencies": latencies}, default=str))
"""


@pytest.mark.skipif(not backends.installed("torch"), reason=backends.missing_reason("torch"))
def test_every_style_takes_a_tensor_numpy_cannot_in_the_latency_and_save_load_phases():
    """The latency phase hands every style's call a backend tensor; on a GPU NumPy cannot take
    it. With the old raw torch floor (`np.asarray(images)` in its `__call__`) this fails:
    `raw/mlp` and `raw/cnn` in `errors` with NumPy's refusal."""
    result = python_json(DEVICE_ONLY, "torch")
    assert result["refuses"], "the stand-in for a CUDA tensor let NumPy take it"
    assert result["errors"] == {}
    assert len(result["latencies"]) == 10  # 5 styles x mlp, cnn
    for name, record in result["latencies"].items():
        assert record["call_eager_ms_b1"] > 0, name
        assert record["save_load_ok"], (name, record.get("save_load_error"))


@pytest.mark.skipif(not backends.installed("jax"), reason=backends.missing_reason("jax"))
def test_jaxs_gpu_facts_code_runs_on_the_cpu():
    """`accelerator_environment`'s GPU branch (`device_facts`) run on the CPU, in a fresh
    process where nothing else imported `jax.extend`: an AttributeError here is the crash
    every jax GPU trial had."""
    result = python_json(
        """
        import json, sys
        from bench.runtime import jax_runtime
        facts = jax_runtime.device_facts()
        print(json.dumps({"facts": facts, "cpu": jax_runtime.accelerator_environment()}))
        """,
        "jax",
    )
    assert result["facts"]["gpu_name"].lower() == "cpu"  # the device kind JAX gives its CPU
    assert result["facts"]["cuda_version"] == "cpu"  # the CPU platform's version string
    assert result["cpu"] == {"cuda_version": "", "gpu_name": ""}


@pytest.mark.skipif(not backends.installed("torch"), reason=backends.missing_reason("torch"))
def test_the_torch_anchor_runs_where_keras_puts_the_trials_tensors():
    """The anchor times the trial's device, not always the CPU: its tensors go where Keras
    puts the trial's. Keras's device is made `meta` here (torch's shape-only device), which
    a CPU can host, so an anchor left on the CPU fails this on any machine; the real step
    still gives the loss it always gave."""
    result = python_json(
        """
        import json
        import torch
        from keras.src.backend.torch import core
        from bench.runtime import torch_runtime

        def devices(step):
            cells = [c.cell_contents for c in step.__closure__]
            tensors = [c for c in cells if isinstance(c, torch.Tensor)]
            tensors += [w for c in cells if isinstance(c, list) for w in c]
            return len(tensors), sorted({t.device.type for t in tensors})

        loss = float(torch_runtime.anchor_step()())
        core.get_device = lambda: "meta"
        count, where = devices(torch_runtime.anchor_step())
        print(json.dumps({"count": count, "devices": where, "loss": loss}))
        """,
        "torch",
    )
    assert result["count"] == 6 and result["devices"] == ["meta"]
    assert 2.0 < result["loss"] < 2.7  # cross-entropy near log(10) at the first step: it computed
