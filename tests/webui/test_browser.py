"""The web UI in a real headless Chromium (Debian's, through /usr/bin/chromedriver) against a real `facecast serve`.

Each test does what a person would: upload through the page's file inputs, click, wait for the page to change,
play the video and download the files, then checks the downloads themselves. Screenshots of every tab go to
docs/images, at desktop size and phone width, where no page may scroll sideways.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest

from facecast import assets
from tests.support.cli import run_facecast
from tests.support.media import media_path, trim_wav
from tests.support.server import Service, serving

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.service import Service as DriverService  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
DESKTOP, PHONE = (1280, 800), (390, 844)
TABS = {"Create": "create", "Batch": "batch", "History": "history", "Templates": "templates"}
KEY = "browser-test-key-0123456789"


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads: Path) -> Iterator[WebDriver]:
    """Headless Chromium driven through the system chromedriver; Selenium Manager (which would download a driver)
    is pointed at a path that does not exist, so any attempt to run it fails the test."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.fail("chromium and chromium-driver are missing: run `make system-deps`")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--mute-audio",
                     f"--window-size={DESKTOP[0]},{DESKTOP[1]}", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    previous = os.environ.get("SE_MANAGER_PATH")
    os.environ["SE_MANAGER_PATH"] = "/nonexistent/selenium-manager"
    try:
        driver = webdriver.Chrome(service=DriverService(executable_path=str(CHROMEDRIVER)), options=options)
    finally:
        os.environ.pop("SE_MANAGER_PATH") if previous is None else os.environ.update(SE_MANAGER_PATH=previous)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()


def wait(driver: WebDriver, condition: Callable[[WebDriver], Any], timeout_s: float, what: str) -> Any:
    return WebDriverWait(driver, timeout_s, poll_frequency=0.25).until(condition, message=f"waited {timeout_s} s "
                                                                                          f"for {what}")


def text_of(driver: WebDriver, css: str) -> str:
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css)


def shown(driver: WebDriver, element_id: str) -> bool:
    """Whether the element is on the page and visible (Gradio leaves hidden components out of the page)."""
    return any(e.is_displayed() for e in driver.find_elements(By.ID, element_id))


def open_ui(driver: WebDriver, service: Service) -> None:
    set_viewport(driver, DESKTOP)
    driver.get(f"{service.url}/ui/")
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "button[role=tab]"), 30, "the tabs")


def open_tab(driver: WebDriver, label: str) -> None:
    """Click a tab (waiting for the tab bar to lay out again after a viewport change)."""
    tab = wait(driver, lambda d: d.find_elements(
        By.XPATH, f"//button[@role='tab'][contains(normalize-space(.), '{label}')]"), 10, f"the {label} tab")[0]
    tab.click()
    wait(driver, lambda d: tab.get_attribute("aria-selected") == "true", 10, f"the {label} tab")


def upload(driver: WebDriver, component: str, path: Path) -> None:
    """Choose a file in a component's file input, then wait until the page has uploaded it."""
    driver.find_element(By.CSS_SELECTOR, f"#{component} input[type=file]").send_keys(str(path))
    wait(driver, lambda d: path.stem in text_of(d, f"#{component}")
         or d.find_elements(By.CSS_SELECTOR, f"#{component} audio, #{component} .waveform-container"),
         30, f"{path.name} in #{component}")


def open_add_template(driver: WebDriver) -> None:
    """Open the Create tab's "Add a template" panel and wait for its file input (it is drawn once opened)."""
    driver.find_element(By.CSS_SELECTOR, "#create-add-accordion button, #create-add-accordion .label-wrap").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#create-add-file input[type=file]"), 10,
         "the template file input")


def set_viewport(driver: WebDriver, size: tuple[int, int]) -> None:
    width, height = size
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def downloaded(folder: Path, suffix: str, count: int = 1, timeout_s: float = 30) -> list[Path]:
    """The finished downloads with `suffix` (Chromium writes .crdownload until a file is complete)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done = sorted(folder.glob(f"*{suffix}"))
        if len(done) >= count and not list(folder.glob("*.crdownload")):
            return done
        time.sleep(0.2)
    raise AssertionError(f"{count} {suffix} download(s) not in {folder} after {timeout_s} s: {list(folder.iterdir())}")


def duration_s(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.streams.video and container.streams.audio, f"{path} lacks a video or audio stream"
        return float(container.duration) / av.time_base


def test_create_plays_and_downloads_the_video(service: Service, browser: WebDriver, downloads: Path,
                                             tmp_path: Path) -> None:
    speech = trim_wav(assets.DEMO_SPEECH, tmp_path / "speech.wav", 1.5)
    open_ui(browser, service)
    open_add_template(browser)
    upload(browser, "create-add-file", media_path("portrait.jpg"))
    browser.find_element(By.ID, "create-add").click()
    wait(browser, lambda d: "is ready" in text_of(d, "#create-add-status"), 60, "the template to be ready")
    upload(browser, "create-audio", speech)
    browser.find_element(By.ID, "create-generate").click()
    wait(browser, lambda d: d.execute_script("const v = document.querySelector('#create-result video');"
                                             "return v && v.readyState >= 2"), 120, "the result video")
    assert 'data-status="succeeded"' in browser.find_element(By.ID, "create-status").get_attribute("innerHTML")
    assert browser.execute_script("return document.createElement('video')"
                                  ".canPlayType('video/mp4; codecs=\"avc1.64001E, mp4a.40.2\"')") != ""
    start = browser.execute_script("const v = document.querySelector('#create-result video'); v.muted = true;"
                                   "v.play(); return v.currentTime")
    wait(browser, lambda d: d.execute_script("return document.querySelector('#create-result video').currentTime")
         > start + 0.3, 15, "the video to play")
    for link in browser.find_elements(By.CSS_SELECTOR, "#create-download a[download]"):
        link.click()
    video = downloaded(downloads, ".mp4")[0]
    assert abs(duration_s(video) - 1.5) < 0.1, duration_s(video)
    job = service.client.get(f"/v1/videos/{video.stem}").json()  # made in the UI, seen by the API
    assert job["status"] == "succeeded" and job["audio_id"]


def test_batch_of_three_downloads_one_zip(service: Service, browser: WebDriver, downloads: Path,
                                          tmp_path: Path) -> None:
    for name in ("first", "second"):
        with media_path("portrait.jpg").open("rb") as handle:
            created = service.client.post("/v1/templates", files={"file": ("p.jpg", handle)}, data={"name": name})
        service.wait_for(f"/v1/templates/{created.json()['id']}", {"ready"}, 60)
    speech = trim_wav(assets.DEMO_SPEECH, tmp_path / "short.wav", 1.0)
    open_ui(browser, service)
    open_tab(browser, "Batch")
    thumbnails = wait(browser, lambda d: len(found := d.find_elements(By.CSS_SELECTOR, "#batch-picker button img"))
                      >= 3 and found, 30, "three templates in the gallery")
    for count, image in enumerate(thumbnails[:3], start=1):
        image.click()  # each click adds its template to the batch, as a chip in the picker below
        wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#batch-templates .token")) == count, 10,
             f"{count} template(s) picked")
    upload(browser, "batch-audio", speech)
    browser.find_element(By.ID, "batch-run").click()
    link = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#batch-zip a[download]"), 180, "the ZIP")[0]
    assert "3 succeeded" in text_of(browser, "#batch-status")
    assert text_of(browser, "#batch-status").count("succeeded") >= 4  # the batch's bar and one per video
    link.click()
    with zipfile.ZipFile(downloaded(downloads, ".zip")[0]) as archive:
        names = archive.namelist()
        assert len(names) == 3 and all(n.endswith(".mp4") for n in names), names
        for name in names:
            assert archive.read(name)[4:8] == b"ftyp"


def test_screenshots_of_every_tab_fit_a_phone(service: Service, browser: WebDriver) -> None:
    """Taken on the page the batch test left, so the Create and Batch tabs show their results."""
    if not browser.current_url.startswith(service.url):
        open_ui(browser, service)
    IMAGES.mkdir(parents=True, exist_ok=True)
    for label, slug in TABS.items():
        set_viewport(browser, DESKTOP)
        open_tab(browser, label)
        if label == "History":  # list the batch's videos too
            browser.find_element(By.ID, "history-refresh").click()
            wait(browser, lambda d: text_of(d, "#studio").count("vid_") >= 4, 10, "four videos in History")
        browser.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.5)  # let images and tables settle
        browser.save_screenshot(str(IMAGES / f"webui-{slug}.png"))
        set_viewport(browser, PHONE)
        browser.execute_script("window.scrollTo(0, 0)")
        time.sleep(0.5)
        widths = browser.execute_script("const d = document.documentElement; return [d.scrollWidth, d.clientWidth]")
        assert widths[0] <= widths[1], f"the {label} tab scrolls sideways at {PHONE[0]} px: {widths}"
        browser.save_screenshot(str(IMAGES / f"webui-{slug}-phone.png"))
    set_viewport(browser, DESKTOP)


@pytest.fixture(scope="module")
def keyed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from serving(tmp_path_factory.mktemp("keyed") / "data", workers=0, api_key=KEY)


def test_sign_in_refuses_a_wrong_key_and_accepts_the_right_one(browser: WebDriver, keyed_service: Service) -> None:
    with media_path("portrait.jpg").open("rb") as handle:
        created = keyed_service.client.post("/v1/templates", files={"file": ("p.jpg", handle)},
                                            data={"name": "keyed portrait"})
    assert created.status_code == 202, created.text
    set_viewport(browser, DESKTOP)
    browser.get(f"{keyed_service.url}/ui/")
    try:
        _sign_in_twice(browser)
    finally:
        browser.get("about:blank")  # a page left open keeps the server waiting for it when it stops


def _sign_in_twice(browser: WebDriver) -> None:
    key_box = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#sign-in-key input, #sign-in-key textarea"),
                   30, "the sign-in form")[0]
    assert not shown(browser, "studio")
    key_box.send_keys("not-the-key")
    browser.find_element(By.ID, "sign-in").click()
    wait(browser, lambda d: "refused" in text_of(d, "#sign-in-message"), 15, "the refusal")
    message = text_of(browser, "#sign-in-message")
    assert "The server refused that API key" in message and "Traceback" not in message
    assert len(message.strip().splitlines()) == 1 and not shown(browser, "studio")
    browser.save_screenshot(str(IMAGES / "webui-sign-in.png"))
    key_box.clear()
    key_box.send_keys(KEY)
    browser.find_element(By.ID, "sign-in").click()
    wait(browser, lambda d: shown(d, "studio"), 15, "the studio after sign-in")
    assert f"…{KEY[-4:]}" in text_of(browser, "#signed-in")
    open_tab(browser, "Templates")  # listed by a call that carried the page's key
    wait(browser, lambda d: "keyed portrait" in text_of(d, "#studio"), 15, "the key's template")
    assert "fc-error" not in browser.find_element(By.ID, "studio").get_attribute("innerHTML")
    assert not browser.find_elements(By.CSS_SELECTOR, ".toast-message-text.error")  # no handler failed


def test_scripts_send_their_key_in_a_header(keyed_service: Service) -> None:
    """A gradio_client script's calls carry the key it sends, and only that key."""
    gradio_client = pytest.importorskip("gradio_client")
    for key, code in (("not-the-key", "unauthorized"), (KEY, "not_found")):
        client = gradio_client.Client(f"{keyed_service.url}/ui/", headers={"Authorization": f"Bearer {key}"},
                                      verbose=False)
        try:
            with pytest.raises(gradio_client.exceptions.AppError) as caught:
                client.predict(template="tpl_missing", audio_url=f"{keyed_service.url}/a.wav", api_name="/generate")
        finally:
            client.close()  # its heartbeat connection would hold the server open when it stops
        assert f"({code})" in str(caught.value), str(caught.value)


def _key_client(service: Service, name: str) -> httpx.Client:
    """A client sending a new database key of its own (`facecast keys create`), so what it makes is its tenant's."""
    made = run_facecast("keys", "create", "--name", name, "--data-dir", str(service.data_dir), timeout=60)
    assert made.returncode == 0, made.stderr
    return httpx.Client(base_url=service.url, timeout=30, headers={"X-API-Key": json.loads(made.stdout)["key"]})


def _queued_video(client: httpx.Client, audio: Path) -> str:
    """A template, an audio and a video of the client's key (no workers here: the video stays queued)."""
    with media_path("portrait.jpg").open("rb") as template, audio.open("rb") as speech:
        template_id = client.post("/v1/templates", files={"file": ("p.jpg", template)}).json()["id"]
        audio_id = client.post("/v1/audio", files={"file": ("a.wav", speech)}).json()["id"]
    created = client.post("/v1/videos", json={"template_id": template_id, "audio_id": audio_id})
    assert created.status_code == 202, created.text
    return created.json()["id"]


def test_a_page_signed_in_with_key_a_never_shows_key_bs_jobs(browser: WebDriver, keyed_service: Service,
                                                              tmp_path: Path) -> None:
    audio = trim_wav(media_path("eng.wav"), tmp_path / "a.wav", 1.0)
    alice, bob = _key_client(keyed_service, "alice"), _key_client(keyed_service, "bob")
    try:
        alice_video, bob_video = _queued_video(alice, audio), _queued_video(bob, audio)
        set_viewport(browser, DESKTOP)
        browser.get(f"{keyed_service.url}/ui/")
        key_box = wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#sign-in-key input, #sign-in-key textarea"),
                       30, "the sign-in form")[0]
        key_box.send_keys(alice.headers["X-API-Key"])
        browser.find_element(By.ID, "sign-in").click()
        wait(browser, lambda d: shown(d, "studio"), 15, "the studio after sign-in")
        open_tab(browser, "History")
        wait(browser, lambda d: alice_video in text_of(d, "#studio"), 20, "key A's video in History")
        assert bob_video not in text_of(browser, "#studio")
        open_tab(browser, "Create")  # the page's own uploads carry its key: the server refuses them without one
        open_add_template(browser)
        upload(browser, "create-add-file", media_path("portrait.jpg"))
        statuses = wait(browser, lambda d: d.execute_script(
            "return performance.getEntriesByType('resource').filter(e => e.name.includes('/gradio_api/upload'))"
            ".map(e => e.responseStatus)"), 10, "the upload request")
        assert set(statuses) == {200}, statuses
        anonymous = httpx.post(f"{keyed_service.url}/ui/gradio_api/upload", files={"files": ("x.wav", b"RIFF")})
        assert anonymous.status_code == 401, anonymous.text
    finally:
        browser.get("about:blank")
        alice.close()
        bob.close()
