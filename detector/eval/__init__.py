"""Evaluation on labelled highlight datasets: loading, metrics, baselines."""
