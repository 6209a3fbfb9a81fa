"""The detector: torch/torchvision only (no Qt).

Model builders (``builders``), their configs (``config``), checkpoints,
tracing every stage of a forward pass, anchor labelling, training,
evaluation and synthetic data.
"""
