"""Run reports a browser can open, and run / lineage queries over ML Metadata.

``build.build_report(cfg, run_id)`` writes ``<work_dir>/runs/<run_id>/report.html``;
``queries.list_runs(cfg)`` and ``queries.lineage(cfg, version=...)`` answer "which runs
were there" and "what produced the served model". Nothing is imported here, so that
``queries`` stays light: ``build`` loads TFMA and TFDV.
"""
