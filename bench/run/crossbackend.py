"""Across backends: every style on every installed backend, given the same weights, must give
the same outputs on the same 64 digits (within 1e-4).

The reference weights come from this process's functional build (seeded); each backend
runs in its own `python -m bench.run.crossbackend BACKEND WEIGHTS.npz OUTPUTS.npz ARCHS STYLES`
process (a process has one Keras backend), sets the weights into every style and writes
its outputs; the parent compares them with its own reference outputs. NumPy files only.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench import backends

TOLERANCE = 1e-4


def _weights_file(arch_names: Sequence[str], seed: int, path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Save the seeded functional build's weights per arch; return its outputs per arch."""
    from bench import styles
    from bench.archs import default_spec
    from bench.styles import predict_logits, verify

    batch = verify.real_batch()
    arrays, outputs = {}, {}
    for arch in arch_names:
        spec = default_spec(arch)
        reference = verify.seeded_build(styles.build, styles.reference_style(spec), spec, seed)
        for index, weight in enumerate(reference.get_weights()):
            arrays[f"{arch}/{index}"] = weight
        outputs[arch] = predict_logits(reference, batch, len(batch))
    np.savez(path, **arrays)
    return outputs


def outputs_with_weights(
    weights_path: Path, arch_names: Sequence[str], style_names: Sequence[str]
) -> dict[str, np.ndarray]:
    """In this process's backend: each style built, given the stored weights, run on the batch."""
    from bench import styles
    from bench.archs import default_spec
    from bench.styles import predict_logits, verify

    batch = verify.real_batch()
    out: dict[str, np.ndarray] = {}
    with np.load(weights_path, allow_pickle=False) as stored:
        for arch in arch_names:
            weights = [
                stored[f"{arch}/{i}"] for i in range(sum(k.startswith(f"{arch}/") for k in stored.files))
            ]
            for style in style_names:
                try:
                    model = styles.build(style, default_spec(arch))
                except styles.NotExpressible:
                    continue
                model.set_weights(weights)
                for head, values in predict_logits(model, batch, len(batch)).items():
                    out[f"{arch}/{style}/{head}"] = values
    return out


def compare(
    arch_names: Sequence[str], style_names: Sequence[str], backend_names: Sequence[str], seed: int = 0
) -> list[tuple[str, str, str, float | None, str]]:
    """(backend, arch, style, max |diff| against this process's functional outputs, verdict)
    for every installed backend; a backend that is not installed gives one 'skipped' line."""
    rows: list[tuple[str, str, str, float | None, str]] = []
    with tempfile.TemporaryDirectory(prefix="stylebench-cross-") as folder:
        weights_path = Path(folder) / "weights.npz"
        reference = _weights_file(arch_names, seed, weights_path)
        for backend in backend_names:
            if not backends.installed(backend):
                rows.append((backend, "-", "-", None, f"skipped: {backends.missing_reason(backend)}"))
                continue
            out_path = Path(folder) / f"{backend}.npz"
            command = [
                sys.executable,
                "-m",
                "bench.run.crossbackend",
                backend,
                str(weights_path),
                str(out_path),
            ]
            command += [",".join(arch_names), ",".join(style_names)]
            finished = subprocess.run(command, capture_output=True, text=True, timeout=900)
            if finished.returncode != 0:
                tail = " | ".join(finished.stderr.strip().splitlines()[-3:])
                rows.append((backend, "-", "-", None, f"error: {tail}"))
                continue
            with np.load(out_path, allow_pickle=False) as stored:
                for arch in arch_names:
                    for style in style_names:
                        keys = [k for k in stored.files if k.startswith(f"{arch}/{style}/")]
                        if not keys:
                            rows.append((backend, arch, style, None, "not expressible"))
                            continue
                        gap = max(
                            float(np.max(np.abs(stored[k] - reference[arch][k.rsplit("/", 1)[1]])))
                            for k in keys
                        )
                        verdict = "identical" if gap <= TOLERANCE else f"mismatch (> {TOLERANCE:g})"
                        rows.append((backend, arch, style, gap, verdict))
    return rows


def table(rows: Sequence[tuple[str, str, str, float | None, str]]) -> str:
    lines = [f"{'backend':<11} {'arch':<9} {'style':<11} {'max |diff|':>10}  verdict"]
    for backend, arch, style, gap, verdict in rows:
        shown = "-" if gap is None else f"{gap:.1e}"
        lines.append(f"{backend:<11} {arch:<9} {style:<11} {shown:>10}  {verdict}")
    return "\n".join(lines)


def all_identical(rows: Sequence[tuple[str, str, str, float | None, str]]) -> bool:
    return all(not verdict.startswith(("mismatch", "error")) for *_, verdict in rows)


if __name__ == "__main__":
    backend, weights, outputs, archs, style_list = sys.argv[1:6]
    from bench import runtime

    runtime.use(backend)
    results = outputs_with_weights(Path(weights), archs.split(","), style_list.split(","))
    np.savez(outputs, **results)
