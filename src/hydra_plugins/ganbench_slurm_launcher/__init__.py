"""ganbench's Hydra launcher plugin (SLURM through submitit)."""
