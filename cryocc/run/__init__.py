"""Driving a project: start, follow, abort and resume relion_schemer (runner), the watchdog that
fails what nothing runs any more (supervisor), and moving what the spec no longer uses to Trash/ (gc)."""
