"""Numeric kernels both executors share: convolution products, window placement, pooling reductions,
tiled in-place arithmetic, and running a batch's chunks on several threads.

These work on plain numpy arrays (channels-last ``(N, H, W, C)`` for the windowed ones) and know
nothing of either format; each executor reads its own format's parameters and calls them.
"""
