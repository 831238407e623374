"""What a served model receives and how it does: request logs read back, compared, reported.

TFX-free logic behind ``runner.py monitor``; ``pipeline/monitor.py`` finds the training
statistics and test figures in ML Metadata and calls it.
"""
