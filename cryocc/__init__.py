"""cryocc: compile pipeline.yaml into a RELION 5 project that relion_schemer runs."""

__version__ = "0.1.0"
