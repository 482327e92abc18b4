"""se-tune: the keras_se experiment app (fit, test, search, inspect).

Run it as `se-tune ...` or `python -m se_tune ...`. The app holds config, data,
training options and logging; the model comes from keras_se's public API only.
"""
