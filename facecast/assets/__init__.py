"""Small media bundled with facecast for the demo (see ATTRIBUTION.md)."""

from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO_TEMPLATE = HERE / "demo_template.mp4"
DEMO_SPEECH = HERE / "demo_speech.wav"
