"""The Wav2Lip-compatible neural backend: mel front end, network, runners and renderer.

Importing this package pulls in no torch or onnxruntime: those load only when a model is loaded.
"""
