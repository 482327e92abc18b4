"""Utilities of keras_se."""
