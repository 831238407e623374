"""What a local run leaves in ``<work_dir>/runs/<run id>/`` (``owner.json`` aside: run_lock)."""

LOG_FILE = "pipeline.log"  # everything the run logged: TFX, Beam, TensorFlow, tracebacks
SUMMARY_FILE = "summary.json"  # pipeline/run_summary.py's RunSummary, once the run ended
REPORT_FILE = "report.html"
REPORT_LOG_FILE = "report.log"  # what ``runner.py report`` logged
INPUTS_FILE = "inputs.json"  # the run's input fingerprint (pipeline/up_to_date.py)
