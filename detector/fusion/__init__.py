"""Fusion: align signal tracks, weight them, pick peaks and cut them into ranked candidates."""
