"""The model lifecycle: training, metrics, ONNX export and parity, the registry's writes,
the promotion gates (governance), retraining and the bootstrap model."""
