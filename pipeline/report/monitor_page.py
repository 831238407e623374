"""``monitor.html``: one self-contained page about a monitoring pass, in the run report's style."""

import datetime
from pathlib import Path

from monitoring.monitor import MonitorResult
from pipeline.report.build import template_environment

TEMPLATE = "monitor.html.j2"


def render(result: MonitorResult, logs: Path, sample_rate: float, max_error_rate: float) -> str:
    """The page's HTML (CSS inline, no script, no network)."""
    environment = template_environment()
    skew = {d.feature: d for d in result.skew}
    drift = {d.feature: d for d in result.drift}
    return environment.get_template(TEMPLATE).render(
        result=result,
        skew=skew,
        drift=drift,
        features=sorted(set(skew) | set(drift)),
        logs=str(logs),
        sample_rate=sample_rate,
        max_error_rate=max_error_rate,
        generated=datetime.datetime.now().astimezone(),
    )
