"""se-tune: the keras_se experiment app (fit, test, search).

The app holds config, data, training options and logging; the model comes from
keras_se's public API only.
"""
