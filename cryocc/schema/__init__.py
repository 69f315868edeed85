"""The pipeline spec, site profiles, acquisition inference and the job-type catalog."""
