"""Open a saved HTML view in headless Chromium (Debian's ``chromium`` and ``chromedriver``), hover
a cell, collect JavaScript errors, and take a screenshot. Used by the browser test and by
``analyses/explore.py``."""

import tempfile
import time
from pathlib import Path

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--window-size=1400,1000",
]


def available() -> bool:
    """Whether Chromium and its driver are installed."""
    return Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()


def hover_cell(page: Path, cell: str, screenshot: Path | None = None) -> dict:
    """Open ``page``, hover the grid cell ``cell`` ("layer,position"), and report what happened.

    Returns:
        ``cells`` (grid cells rendered), ``tooltip`` (its text, "" if hidden) and ``errors``
        (severe browser-console messages, JavaScript errors among them).
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(Path(page).resolve().as_uri())
        cells = driver.find_elements(By.CSS_SELECTOR, "td[data-cell]")
        ActionChains(driver).move_to_element(
            driver.find_element(By.CSS_SELECTOR, f'td[data-cell="{cell}"]')
        ).perform()
        time.sleep(0.3)
        tip = driver.find_element(By.CSS_SELECTOR, ".ll-tip")
        text = tip.text if tip.is_displayed() else ""
        errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        if screenshot is not None:
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(screenshot))
        return {"cells": len(cells), "tooltip": text, "errors": errors}
    finally:
        driver.quit()
