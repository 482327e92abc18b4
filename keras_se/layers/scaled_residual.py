"""A scaled residual addition, `x + scale * residual` (Inception-ResNet)."""

import keras


@keras.saving.register_keras_serializable(package="keras_se")
class ScaledResidual(keras.layers.Layer):
    """Adds a scaled residual branch to its shortcut: `inputs[0] + scale * inputs[1]`.

    The same function as keras.applications.InceptionResNetV2's internal
    `CustomScaleLayer`, registered so that models using it save and load as
    `.keras` files in safe mode.

    Args:
        scale: float, the factor of the residual branch.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: a list `[shortcut, residual]` of tensors of one shape.

    Example:

    >>> y = ScaledResidual(0.17)([keras.ops.ones((1, 4)), keras.ops.ones((1, 4))])
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise ValueError(f"`scale` must be a number. Received: scale={scale!r}")
        self.scale = float(scale)

    def call(self, inputs):
        shortcut, residual = inputs
        return shortcut + residual * self.scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
