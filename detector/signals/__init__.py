"""Signals: one plugin module per signal, each producing a SignalTrack with its explanation."""
