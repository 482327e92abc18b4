"""Linear learning-rate warm-up in front of any schedule.

Keras' `CosineDecay` has a warm-up of its own; the step (`PiecewiseConstantDecay`)
and constant schedules do not, so `train.warmup_epochs` wraps them in this one.
"""

import keras


@keras.saving.register_keras_serializable(package="se_tune")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate rises linearly from 0 to `target` over `warmup_steps`,
    then follows `after` (a schedule or a number), counted from step 0.

    Args:
        after: a `LearningRateSchedule` or a float, the rate once warmed up.
        warmup_steps: int >= 1, the optimizer steps of the warm-up.
        target: the rate the warm-up reaches (`after`'s rate at that step).

    Example:

    >>> steps = keras.optimizers.schedules.PiecewiseConstantDecay([100], [0.1, 0.01])
    >>> schedule = LinearWarmup(steps, warmup_steps=20, target=0.1)
    >>> float(schedule(10))
    0.05
    """

    def __init__(self, after, warmup_steps, target):
        if int(warmup_steps) < 1:
            raise ValueError(f"`warmup_steps` must be >= 1. Received: warmup_steps={warmup_steps}")
        self.after = after
        self.warmup_steps = int(warmup_steps)
        self.target = float(target)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        after = self.after(step) if callable(self.after) else self.after
        warm = self.target * step / self.warmup_steps
        return keras.ops.where(step < self.warmup_steps, warm, after)

    def get_config(self):
        after = self.after
        if isinstance(after, keras.optimizers.schedules.LearningRateSchedule):
            after = keras.saving.serialize_keras_object(after)
        return {"after": after, "warmup_steps": self.warmup_steps, "target": self.target}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config["after"], dict):
            config["after"] = keras.saving.deserialize_keras_object(config["after"])
        return cls(**config)
