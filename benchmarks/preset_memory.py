"""Peak memory of loading a ResNet-50-sized preset with `from_preset`.

A seresnet50 checkpoint in timm's layout (random weights, written by
`save_preset`, 28M parameters) is loaded in a fresh process; the peak resident
memory during the call (Linux's VmHWM, reset just before it) is compared with
the resident memory just before it and with the weights file's size. The
target: at most 2.5 times the file's size.

    python benchmarks/preset_memory.py               # table + results/preset_memory.json
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def write_preset(args):
    """Writes the checkpoint (in its own process: its memory is not the loader's)."""
    import keras

    import keras_se
    from keras_se.convert.timm_architectures import build_timm_resnet

    arguments = {"depth": 50, "groups": 1, "base_width": 64, "stride_in_1x1": False,
                 "resnet_d": False, "legacy": False, "attention": "se", "se_ratio": 16,
                 "se_kwargs": {"divisor": 8}}
    metadata = {"input_size": (224, 224),
                "source": {"architecture": "seresnet50", "model_args": {}}}
    model = build_timm_resnet(arguments, 1000, metadata=metadata)
    keras_se.models.save_preset(model, args.folder)
    return {"params": int(model.count_params()), "keras": keras.__version__}


def load_preset(args):
    """Loads the checkpoint, measuring resident memory around the call."""
    import keras_se

    # The back end's one-time start (its first layers and kernels) comes before the
    # measurement: it is no part of a preset's cost.
    keras_se.models.CifarSEResNet(depth=20)
    before = common.proc_status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the present resident size
    model = keras_se.models.from_preset(args.folder)
    peak = common.proc_status("VmHWM")
    return {"rss_before": before, "peak": peak, "params": int(model.count_params())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", help="the preset folder (default: a temporary one)")
    children = {"write": write_preset, "load": load_preset}
    common.add_child_arguments(parser, "preset_memory", children)
    args = parser.parse_args()
    if common.serve_child(args, children):
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or os.path.join(tmp, "seresnet50")
        written = common.run_child(__file__, ["--child", "write", "--folder", folder])
        loaded = common.run_child(__file__, ["--child", "load", "--folder", folder])
        if "error" in written or "error" in loaded:
            raise SystemExit(f"failed: {written.get('error') or loaded.get('error')}")
        size = os.path.getsize(os.path.join(folder, "model.safetensors"))
    rise = loaded["peak"] - loaded["rss_before"]
    mib = 1024 * 1024
    common.print_table(
        ["weights file (MiB)", "RSS before (MiB)", "peak during (MiB)", "rise (MiB)",
         "rise / file"],
        [[size / mib, loaded["rss_before"] / mib, loaded["peak"] / mib, rise / mib,
          rise / size]])
    print(f"target: rise at most 2.5 x the file: {'met' if rise <= 2.5 * size else 'missed'}")
    common.write_json(args.output, {"machine": common.machine(), "file_bytes": size,
                                    "rss_before_bytes": loaded["rss_before"],
                                    "peak_bytes": loaded["peak"], "rise_over_file": rise / size,
                                    "params": loaded["params"]})


if __name__ == "__main__":
    main()
