"""Datasets: sources → manifests → grouped splits, and the decoded-waveform cache."""
