"""Operating custops: request ids and structured logs, Prometheus metrics, worker heartbeats.

Nothing here holds business rules; these modules only observe the web and worker processes. Settings import
``config.observability.logs`` (stdlib only), so that module must never import Django or Celery at load time.
"""
