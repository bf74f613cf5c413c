"""Default `--var` per platform and the OneDrive warning, with fake environments (Windows logic on Linux)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from minibot.watchdog.varpath import default_var, onedrive_root, onedrive_warning
from tests.watchdog.runproc import NoreRun, write_config

WIN_ENV = {
    "LOCALAPPDATA": r"C:\Users\trader\AppData\Local",
    "USERPROFILE": r"C:\Users\trader",
    "OneDrive": r"C:\Users\trader\OneDrive",
    "OneDriveCommercial": r"D:\Sync\Contoso Files",
}


def test_windows_defaults_to_localappdata_elsewhere_unchanged() -> None:
    assert PureWindowsPath(str(default_var(WIN_ENV, "win32"))) == PureWindowsPath(
        r"C:\Users\trader\AppData\Local\nore\var"
    )
    assert default_var({}, "win32") == Path.home() / "AppData" / "Local" / "nore" / "var"
    assert default_var(WIN_ENV, "linux") == Path("var")
    assert default_var({}, "darwin") == Path("var")


def test_the_default_windows_var_is_not_synced() -> None:
    var = PureWindowsPath(str(default_var(WIN_ENV, "win32")))
    assert onedrive_warning(var, WIN_ENV, "win32") is None


def test_folders_under_a_onedrive_root_from_the_environment_are_found() -> None:
    # Documents redirected into OneDrive; Windows paths compare case-insensitively
    docs = PureWindowsPath(r"c:\users\TRADER\onedrive\Documents\nore\var")
    assert onedrive_root(docs, WIN_ENV, "win32") == r"C:\Users\trader\OneDrive"
    # a business library whose folder name does not say OneDrive: only the environment tells
    business = PureWindowsPath(r"D:\Sync\Contoso Files\night\var")
    assert onedrive_root(business, WIN_ENV, "win32") == r"D:\Sync\Contoso Files"
    assert onedrive_root(business, {}, "win32") is None
    # a sibling whose name merely starts like a root is not inside it
    assert onedrive_root(PureWindowsPath(r"D:\Sync\Contoso Files Old\var"), WIN_ENV, "win32") is None


def test_a_onedrive_named_component_is_found_without_the_environment() -> None:
    path = PureWindowsPath(r"E:\OneDrive - Contoso\Desktop\var")
    assert onedrive_root(path, {}, "win32") == "E:\\OneDrive - Contoso"
    assert onedrive_root(PurePosixPath("/home/t/OneDrive/var"), {}, "linux") == "/home/t/OneDrive"
    assert onedrive_root(PurePosixPath("/home/t/drive/var"), {}, "linux") is None


def test_the_warning_names_the_folder_and_what_to_do(tmp_path: Path) -> None:
    warning = onedrive_warning(PureWindowsPath(r"C:\Users\trader\OneDrive\Desktop\var"), WIN_ENV, "win32")
    assert warning is not None
    assert "inside OneDrive (C:\\Users\\trader\\OneDrive)" in warning
    assert "AppData" in warning and "--var" in warning
    # a real, relative path is made absolute before the check
    synced = tmp_path / "OneDrive" / "var"
    synced.mkdir(parents=True)
    assert onedrive_warning(synced, {}, "linux") is not None
    assert onedrive_warning(tmp_path / "var", {}, "linux") is None


@pytest.mark.process
def test_nore_run_warns_on_screen_and_in_its_log_when_var_is_synced(tmp_path: Path) -> None:
    # Port 9 on loopback has no listener: the run STOPs in preflight, after the warning, within seconds.
    config = write_config(tmp_path, binance={"rest_base_url": "http://127.0.0.1:9", "rest_timeout_s": 2})
    run = NoreRun(tmp_path / "OneDrive" / "var", "--config", str(config), "--duration", "1m")
    assert run.wait(60) == 3, run.output
    assert f"warning: the var folder {tmp_path / 'OneDrive' / 'var'} is inside OneDrive" in run.output
    log = (run.run_dir() / "logs" / "supervisor.log").read_text(encoding="utf-8")
    assert "is inside OneDrive" in log
