"""What the window keeps of a session between runs: the thresholds, whether items are
detected when shown, the overlay toggles (settings file, ``app.settings``)."""

from __future__ import annotations

from detector_app.app.session import Session
from detector_app.app.settings import Settings


def session_from_settings(settings: Settings) -> Session:
    """A session as the previous run left it."""
    session = Session(score_thresh=float(settings.get("score_thresh")), nms_thresh=float(settings.get("nms_thresh")),
                      detect_on_open=bool(settings.get("detect_on_open")))
    session.set_thresholds(class_agnostic=bool(settings.get("nms_across_classes")))
    saved = settings.get("overlays")
    session.restore_overlays(saved if isinstance(saved, dict) else {})
    return session


def save_session(settings: Settings, session: Session) -> None:
    """Remember ``session``'s thresholds, detect-on-open and overlays (in memory: ``settings.save`` writes)."""
    settings.set("score_thresh", session.score_thresh)
    settings.set("nms_thresh", session.nms_thresh)
    settings.set("nms_across_classes", session.class_agnostic)
    settings.set("overlays", dict(session.overlays))
    settings.set("detect_on_open", session.detect_on_open)
