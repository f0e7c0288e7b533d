"""What the load test sends (bench/load.py starts it): integrations reading the API, people reading the pages.

An API user follows cursor pages of customers and scores, reads a customer, the KPIs and the segments; a page user
signs in once and opens the home page, the executive overview, the customer list and the reports. Names group
requests by route so the figures do not split per id. Environment: CUSTOPS_LOAD_API_KEY, CUSTOPS_LOAD_EMAIL,
CUSTOPS_LOAD_PASSWORD, CUSTOPS_LOAD_MAX_REQUESTS.
"""

from __future__ import annotations

import os
import random
import re

from locust import HttpUser, between, events, task

API_KEY = os.environ.get("CUSTOPS_LOAD_API_KEY", "")
EMAIL = os.environ.get("CUSTOPS_LOAD_EMAIL", "")
PASSWORD = os.environ.get("CUSTOPS_LOAD_PASSWORD", "")
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
#: The run stops after this many requests even if its time is not up: bounded in time (--run-time) and requests.
MAX_REQUESTS = int(os.environ.get("CUSTOPS_LOAD_MAX_REQUESTS", "200000"))
_sent = {"requests": 0}
_environment: dict = {}


@events.request.add_listener
def _stop_after_max_requests(*, context=None, **kwargs) -> None:
    _sent["requests"] += 1
    if _sent["requests"] == MAX_REQUESTS and _environment.get("runner") is not None:
        _environment["runner"].quit()


@events.init.add_listener
def _keep_environment(environment, **kwargs) -> None:
    _environment["runner"] = environment.runner


class ApiUser(HttpUser):
    weight = 3
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {API_KEY}"
        self.customer_ids: list[int] = []

    @task(4)
    def customer_pages(self) -> None:
        url = "/api/v1/customers/?limit=50"
        for _ in range(random.randint(1, 3)):
            with self.client.get(url, name="api: customers page", catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"{response.status_code}")
                    return
                body = response.json()
                self.customer_ids = [row["id"] for row in body["results"]] or self.customer_ids
                url = body.get("next")
                if not url:
                    return

    @task(3)
    def customer(self) -> None:
        if not self.customer_ids:
            return self.customer_pages()
        self.client.get(f"/api/v1/customers/{random.choice(self.customer_ids)}/", name="api: customer")
        return None

    @task(2)
    def scores(self) -> None:
        self.client.get("/api/v1/scores/?limit=50&ordering=-customer_value", name="api: scores page")

    @task(1)
    def kpis(self) -> None:
        self.client.get("/api/v1/kpis/?limit=30", name="api: KPI snapshots")

    @task(1)
    def segments(self) -> None:
        self.client.get("/api/v1/segments/?limit=50", name="api: segments")


class PageUser(HttpUser):
    weight = 1
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        login = self.client.get("/accounts/login/", name="page: login form")
        token = CSRF.search(login.text)
        self.client.post(
            "/accounts/login/",
            {"username": EMAIL, "password": PASSWORD, "csrfmiddlewaretoken": token.group(1) if token else ""},
            headers={"Referer": f"{self.host}/accounts/login/"},
            name="page: sign in",
        )

    @task(3)
    def home(self) -> None:
        self.client.get("/", name="page: home")

    @task(2)
    def overview(self) -> None:
        self.client.get("/reports/", name="page: executive overview")

    @task(2)
    def customers(self) -> None:
        self.client.get(f"/customers/?page={random.randint(1, 200)}", name="page: customers")

    @task(1)
    def customer_value(self) -> None:
        self.client.get("/reports/customers/", name="page: customers and value")

    @task(1)
    def channels(self) -> None:
        self.client.get("/reports/channels/", name="page: channels")
