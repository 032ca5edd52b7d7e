"""ganbench's ``hydra/launcher=submitit_slurm`` launcher: see :mod:`ganbench.slurm_launcher`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as PluginSlurmLauncher
from omegaconf import OmegaConf, open_dict

from ganbench.slurm_launcher import LOST_JOB_GRACE_S, log, record_lost_job, wait_for_job, worst_value


class SlurmLauncher(PluginSlurmLauncher):
    """hydra-submitit-launcher's ``SlurmLauncher`` whose sweep survives a job lost without a result
    (see the module docstring). Its ``launch`` is the plugin's, up to the collection of results."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit

        assert self.config is not None
        assert len(job_overrides) > 0
        # --- as the plugin's launch (hydra-submitit-launcher 1.2) ---
        init_params = {"folder": self.params["submitit_folder"]}
        specific_init_keys = {"max_num_timeout"}
        init_params.update(**{f"{self._EXECUTOR}_{x}": y for x, y in self.params.items() if x in specific_init_keys})
        init_keys = specific_init_keys | {"submitit_folder"}
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
        baseparams = set(OmegaConf.structured(BaseQueueConf).keys())
        params = {
            x if x in baseparams else f"{self._EXECUTOR}_{x}": y for x, y in self.params.items() if x not in init_keys
        }
        executor.update_parameters(**params)
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {self.config.hydra.sweep.dir}")
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        job_params: list[Any] = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
        jobs = executor.map_array(self, *zip(*job_params))
        # --- ganbench: bounded waits, lost jobs recorded ---
        return [
            self._collect(job, list(overrides), idx)
            for idx, (job, overrides) in enumerate(zip(jobs, job_overrides), start=initial_job_idx)
        ]

    def _collect(self, job: Any, overrides: list[str], idx: int) -> JobReturn:
        from submitit.core.utils import UncompletedJobError

        seen_end = wait_for_job(job)
        if seen_end or job.paths.result_pickle.exists():
            try:
                return job.results()[0]  # waits for the job: only once it has ended
            except UncompletedJobError as err:
                what = " ".join(str(err).splitlines()[:2])
                error = f"SLURM job {job.job_id} ended without a result ({what})"
        else:
            error = (
                f"SLURM job {job.job_id} is no longer listed by squeue, without a result "
                f"(waited {LOST_JOB_GRACE_S:.0f} s for {job.paths.result_pickle})"
            )
        error += f"; its logs: {job.paths.stdout} and {job.paths.stderr}"
        assert self.config is not None and self.hydra_context is not None
        sweep_config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(sweep_config.hydra.job):
            sweep_config.hydra.job.num = idx
            sweep_config.hydra.job.id = str(job.job_id)
        run_dir = record_lost_job(sweep_config, error)
        log.error("job #%d: %s; recorded as failed in %s; the sweep goes on", idx, error, run_dir)
        ret = JobReturn(overrides=overrides, cfg=sweep_config, working_dir=str(run_dir), status=JobStatus.COMPLETED)
        ret.return_value = worst_value(self.config)
        return ret
