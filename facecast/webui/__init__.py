"""The web UI (Gradio), a client of the facecast HTTP API: `facecast serve` mounts it at /ui.

Importing this package does not import gradio; use `facecast.webui.app.build_ui` or `mount_ui`.
"""
