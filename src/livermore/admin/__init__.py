"""The admin web app (JSON API, live SSE progress, the page, Prometheus metrics); drives `warmup/`
and the control handlers only."""
