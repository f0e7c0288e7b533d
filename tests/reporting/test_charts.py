"""Chart descriptions and their table views: the numbers a reader sees without the canvas."""

from decimal import Decimal

from django.template.loader import render_to_string
from django.utils import translation

from reporting.charts import chart, series, table_rows


def test_line_chart_table_lists_each_category_with_every_series():
    described = chart(
        "line",
        title="Churn",
        labels=["2026-01", "2026-02"],
        series_list=[series("churn", [Decimal("0.08"), float("nan")]), series("target", [0.06, 0.06], dashed=True)],
        x_label="Month",
        y_unit="percent",
    )
    header, rows = table_rows(described)
    assert header == ["Month", "churn", "target"]
    assert rows == [["2026-01", 0.08, 0.06], ["2026-02", None, 0.06]]  # NaN is undefined, not a number


def test_scatter_table_names_each_point():
    described = chart(
        "scatter",
        title="CAC against value",
        series_list=[series("core", [{"x": Decimal("120.50"), "y": 900, "label": "Search"}])],
        x_label="CAC",
        y_label="Value",
        x_unit="money",
        y_unit="money",
        currency="CNY",
    )
    assert table_rows(described) == (["", "CAC", "Value"], [["Search", 120.5, 900.0]])


def test_include_renders_canvas_json_and_localized_table_view():
    described = chart(
        "bar",
        title="Revenue <by> month",
        labels=["Jan"],
        series_list=[series("revenue", [123456])],
        y_unit="money",
        currency="CNY",
    )
    with translation.override("zh-hans"):
        html = render_to_string("reporting/includes/chart.html", {"chart": described, "chart_id": "rev"})
    assert 'data-chart-source="rev-data"' in html
    assert '<script id="rev-data" type="application/json">' in html
    assert "Revenue \\u003Cby\\u003E month" in html  # escaped inside the script element
    assert "Revenue &lt;by&gt; month" in html
    assert "¥12.35万" in html
    assert "<summary>表格视图</summary>" in html  # the table view's summary reads in Chinese
    assert "Table view" not in html


def test_infinite_values_are_undefined_like_nan():
    described = chart("bar", title="Ratio", labels=["a", "b"], series_list=[series("ratio", [float("inf"), 2])])
    assert described["series"][0]["data"] == [None, 2.0]
