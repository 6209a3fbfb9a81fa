"""One module per ``detector-app`` subcommand (see ``detector_app.cli``)."""
