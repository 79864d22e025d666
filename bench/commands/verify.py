"""`bench verify`: prove the styles build identical models (bench/styles/verify.py)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def verify_command(args: Sequence[str]) -> int:
    from bench import backends
    from bench.archs import VERIFIED, CustomSpec, default_spec
    from bench.commands import UsageError
    from bench.config import check_model_source
    from bench.styles import STYLE_NAMES

    parser = argparse.ArgumentParser(prog="bench verify", description="Prove the styles build one model.")
    parser.add_argument(
        "--arch", nargs="+", default=None, metavar="ARCH",
        help=f"{', '.join(VERIFIED)} or your model as MODULE:FUNCTION (default: all of these)",
    )  # fmt: skip
    parser.add_argument(
        "overrides", nargs="*", metavar="arch=ARCH", help="the same as --arch, Hydra's spelling"
    )
    parser.add_argument("--style", nargs="+", choices=list(STYLE_NAMES), default=list(STYLE_NAMES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--backend", choices=backends.BACKENDS, default=backends.DEFAULT, help="the Keras backend"
    )
    parser.add_argument(
        "--across-backends",
        action="store_true",
        help="also give every style on every installed backend the reference's weights and compare outputs",
    )
    options = parser.parse_args(list(args))
    named = [a.partition("=")[2] for a in options.overrides if a.startswith("arch=")]
    if len(named) != len(options.overrides):
        raise UsageError(f"bench verify takes arch=ARCH, not {options.overrides}")
    options.arch = [a for value in [*(options.arch or []), *named] for a in value.split(",")] or list(
        VERIFIED
    )
    for arch in options.arch:
        try:
            spec = default_spec(arch)
            if isinstance(spec, CustomSpec):
                check_model_source(spec.model)
        except ValueError as error:
            raise UsageError(str(error)) from None
    if not backends.installed(options.backend):
        raise SystemExit(f"bench verify: error: {backends.missing_reason(options.backend)}")
    from bench import runtime

    runtime.use(options.backend)
    from bench.present.summary import verify_table
    from bench.styles import derive, verify

    for arch in options.arch:  # a user's model that cannot be read: one line, before any build
        spec = default_spec(arch)
        if isinstance(spec, CustomSpec):
            try:
                derive.describe(spec.model)
            except derive.ModelError as error:
                raise UsageError(str(error)) from None
    cells = verify.verify(options.arch, options.style, options.seed)
    print(f"backend: {options.backend}")
    print(verify_table(cells))
    consistent = verify.all_consistent(cells)
    if options.across_backends:
        from bench.run import crossbackend

        rows = crossbackend.compare(options.arch, options.style, backends.BACKENDS, options.seed)
        print(
            f"\nacross backends: outputs with the {options.backend} functional build's weights, "
            f"tolerance {crossbackend.TOLERANCE:g}"
        )
        print(crossbackend.table(rows))
        consistent = consistent and crossbackend.all_identical(rows)
    return 0 if consistent else 1
