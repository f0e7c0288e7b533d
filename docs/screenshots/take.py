"""README screenshots (run from the project folder with `PYTHONPATH=.`): run against a demo served on 127.0.0.1:8765 (`manage.py runserver 127.0.0.1:8765`)."""

from playwright.sync_api import sync_playwright

from crm.demo import DEMO_PASSWORD as PASSWORD

BASE = "http://127.0.0.1:8765"
SHOTS = [
    ("admin1", "en", "/reports/", "overview"),
    ("admin1", "en", "/reports/channels/", "channels"),
    ("marketer1", "zh-hans", "/reports/customers/", "customers-value-zh"),
    ("admin1", "en", "/reports/cohorts/", "retention"),
    ("ops1", "en", "/", "home-ops"),
    ("marketer1", "zh-hans", "/", "home-marketer-zh"),
]
with sync_playwright() as p:
    browser = p.chromium.launch(
        executable_path="/usr/bin/chromium",
        args=[
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    )
    for user, lang, path, name in SHOTS:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.add_cookies([{"name": "django_language", "value": lang, "url": BASE}])
        page = context.new_page()
        page.goto(BASE + "/accounts/login/")
        page.fill("input[name=username], input[type=email]", f"{user}@demo.custops.local")
        page.fill("input[type=password]", PASSWORD)
        page.press("#id_password", "Enter")
        page.wait_for_load_state("networkidle")
        page.goto(BASE + path)
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(500)
        page.screenshot(path=f"/work/main/docs/screenshots/{name}.png", full_page=False)
        context.close()
    browser.close()
