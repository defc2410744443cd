"""`tarif up --workers N`: the other engine workers' metrics ports never take the batch's."""

from __future__ import annotations

from tarif_cli.serve import worker_metrics_ports
from tarif_common.settings import Settings


def test_the_workers_pass_over_the_batch_and_admin_ports() -> None:
    defaults = Settings()  # engine 9464, batch 9465, admin 8080
    assert worker_metrics_ports(defaults, 2, batch=True) == [9466, 9467]
    assert worker_metrics_ports(defaults, 2, batch=False) == [9465, 9466]
    assert worker_metrics_ports(defaults, 0, batch=True) == []
    near = Settings(metrics_addr="127.0.0.1:7000", admin_addr="127.0.0.1:7002")
    assert worker_metrics_ports(near, 3, batch=True) == [7001, 7003, 7004]
