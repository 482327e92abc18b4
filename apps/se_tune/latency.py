"""Measured inference latency: the cost that parameters and MACs only predict."""

import time

import numpy as np


def inference_latency_ms(model, images, batch_size, runs=10):
    """The median time, in milliseconds, of one inference call on a batch, on
    the device the model lives on, in this process.

    The batch goes through Keras' compiled predict step (`predict_on_batch`),
    which returns host arrays, so each timing includes the device's work. Two
    calls before the timed ones compile and warm that step.

    Args:
        model: a built Keras model.
        images: example inputs; repeated as needed to fill the batch.
        batch_size: images per call (1 for the latency of a single image).
        runs: timed calls; their median is returned.

    Example:

    >>> inference_latency_ms(model, splits.x_val, batch_size=1)
    0.84...
    """
    batch = np.resize(images, (batch_size, *images.shape[1:])).astype(images.dtype)
    for _ in range(2):
        model.predict_on_batch(batch)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model.predict_on_batch(batch)
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))
