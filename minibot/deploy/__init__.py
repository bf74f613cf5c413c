"""Staged deployment (R-D1): `nore stage` copies files into a staging area with a sha256 manifest;
`nore deploy --check/--apply` verifies it and installs it atomically without overwriting existing files."""
