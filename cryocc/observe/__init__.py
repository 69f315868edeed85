"""The project as it is on disk, read and never written: what became of each job (project), its
driver's receipt (receipts), its SLURM arrays (arrays) and the quality its tools measured (quality).
plan, status, run, gc and the report read the project through it."""
