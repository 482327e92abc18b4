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
    # Only the images a batch needs are read (image files decode on access).
    batch = np.resize(np.asarray(images[:batch_size]), (batch_size, *images.shape[1:]))
    batch = batch.astype(images.dtype)
    return median_call_ms(lambda: model.predict_on_batch(batch), runs)


def median_call_ms(call, runs=10, warmup=2):
    """The median time, in milliseconds, of `call()` over `runs` calls, after
    `warmup` calls.

    Args:
        call: a function of no arguments that returns once its work is done.
        runs: timed calls.
        warmup: untimed calls first (compilation, caches).

    Example:

    >>> median_call_ms(lambda: predict(images[:1]), runs=50)
    0.21...
    """
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))
