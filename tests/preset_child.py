"""Loads presets in a process where torch and timm cannot be imported, and
prints what the preset tests compare, as one JSON line.

    python tests/preset_child.py REQUESTS.json

REQUESTS.json: {"images": "x.npy", "out": "outputs/", "cases": [{"name", "call",
"preset", "kwargs"}]}. `call` is "from_preset" or "SEResNet50" (with
`weights=preset`); each model's outputs on the images go to OUT/NAME.npy.
"""

import json
import os
import sys


class _Blocked:
    """Refuses torch and timm, as a machine without them would."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "timm", "torchvision"):
            raise ImportError(f"{name} cannot be imported in this process")
        return None


def main(path):
    sys.meta_path.insert(0, _Blocked())
    import keras
    import numpy as np

    import keras_se

    with open(path) as f:
        request = json.load(f)
    images = np.load(request["images"])
    report = {}
    for case in request["cases"]:
        kwargs = case.get("kwargs", {})
        try:
            if case["call"] == "from_preset":
                model = keras_se.models.from_preset(case["preset"], **kwargs)
            else:
                builder = getattr(keras_se.models, case["call"])
                model = builder(weights=case["preset"], **kwargs)
        except ValueError as error:
            report[case["name"]] = {"error": str(error)}
            continue
        np.save(os.path.join(request["out"], case["name"] + ".npy"),
                np.asarray(model.predict(images, verbose=0)))
        report[case["name"]] = {"metadata": keras_se.models.preset_metadata(model),
                                "weights": {v.path: float(keras.ops.convert_to_numpy(v).sum())
                                            for v in model.weights}}
    report["torch_imported"] = "torch" in sys.modules or "timm" in sys.modules
    print(json.dumps(report, default=list))


if __name__ == "__main__":
    main(sys.argv[1])
