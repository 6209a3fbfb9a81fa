"""Faster R-CNN Studio: run a Faster R-CNN detector, see inside it, correct it.

Layers (imports flow one way, enforced by ``tests/test_architecture.py``)::

    qt -> app -> detection -> formats | media -> domain
"""

__version__ = "0.1.0"
