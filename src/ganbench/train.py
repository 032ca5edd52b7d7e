"""``ganbench-train``: train one GAN (or, with ``-m``, a sweep of them) from the Hydra config.

ganbench-train loss=hinge dataset=grid seed=3 iterations=500
ganbench-train -m loss=minimax,nonsaturating seed=0,1
"""

from __future__ import annotations

import logging
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from ganbench.config import conf_dir
from ganbench.experiment import describe, run
from ganbench.launchers import limit_job_threads

log = logging.getLogger("ganbench")


@hydra.main(config_path=str(conf_dir()), config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    limit_job_threads(hydra_cfg)
    try:
        summary = run(cfg, run_dir)
    except Exception:
        if not multirun:
            raise
        # In a sweep, one failing job must not stop the others: summary.json says "failed".
        log.exception("job %s failed; the sweep goes on", hydra_cfg.job.num)
        return None
    print(describe(summary), flush=True)
    return summary["metrics"].get("modes_captured")


if __name__ == "__main__":
    main()
