"""Lip-motion features from a LipTrack (and the video): shape, appearance, flow, histograms."""
