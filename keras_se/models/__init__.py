"""Network builders of keras_se."""
