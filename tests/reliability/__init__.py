"""Reliability tests: hostile input at every text entry point, SIGKILL mid-run then rerun.

The summary table of what is tried and which test covers it is docs/reliability.md.
"""
