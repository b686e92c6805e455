"""Serving: claim new transactions, score them with the deployed models' ONNX, write
predictions and alerts (``scoring``), a supervised pool of worker processes
(``workers``), ONNX inference (``onnx_model``) and the model cache's reads of the
registry (``models``). Imports only ``pgfraud.kernel``.
"""
