"""Helpers shared by the test modules: plain modules that tests import
(``from tests.helpers.files import write_png``); no test module imports
another test module.

- ``files``: images, videos, LabelMe JSON and the project store's rows on disk
- ``traces``: hand-built ``DetectionTrace`` objects whose every stage is known
- ``models``: a tiny random-weight checkpoint, and a fake model returning a known trace
- ``qt``: driving modal dialogs (imports PySide6)
- ``fakes``: stand-ins for failing resources (a full disk)
"""
