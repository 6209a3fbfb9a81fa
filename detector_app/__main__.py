"""``python -m detector_app`` is the same as the ``detector-app`` command."""

from detector_app.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
