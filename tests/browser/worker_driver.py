"""Drive the simulated MTurk worker page and the example experiments like a worker would."""

from __future__ import annotations

from playwright.sync_api import Frame, Page, expect

STROOP_KEYS = {"red": "r", "green": "g", "blue": "b", "yellow": "y"}


def experiment_frame(page: Page) -> Frame:
    """The HIT iframe (the experiment, third-party to the simulator page)."""
    handle = page.wait_for_selector("#hit-frame")
    frame = handle.content_frame()
    assert frame is not None
    return frame


def accept_hit(page: Page, hit_url: str, worker_id: str) -> Frame:
    """Open the HIT, check the preview, accept it as ``worker_id``."""
    page.goto(hit_url)
    preview = experiment_frame(page)
    expect(preview.locator("#accept-hint")).to_be_visible()
    page.fill("#worker-id", worker_id)
    page.click("#accept-hit")
    page.wait_for_selector("#assignment-id")
    return experiment_frame(page)


def agree_to_consent(frame: Frame) -> None:
    frame.click("#consent-agree")
    frame.wait_for_load_state()


def stroop_trials(page: Page, count: int, start: int = 0) -> None:
    """Answer ``count`` Stroop trials correctly, from trial ``start``."""
    frame = experiment_frame(page)
    for trial in range(start, start + count):
        stimulus = frame.wait_for_selector(f'#stimulus[data-trial="{trial}"]')
        ink = stimulus.get_attribute("data-ink")
        stimulus.press(STROOP_KEYS[ink])


def start_stroop(page: Page) -> None:
    frame = experiment_frame(page)
    frame.click("#start")


def wait_for_submission(page: Page) -> None:
    """Wait until the HIT frame shows the simulator's externalSubmit receipt."""
    expect(experiment_frame(page).locator("#submitted")).to_be_visible(timeout=20_000)
