"""`nore doctor`: before the first night, whether this machine can run NORE; one row per concern.

`rows.py` holds the row model and the report; `checks.py` the list of checks (data); each concern has its own
module (`python_env`, `disk`, `varfolder`, `lockcheck`, `network`).
"""
