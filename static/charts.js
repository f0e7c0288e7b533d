/* Draws every <canvas data-chart-source="ID"> from the JSON description in <script id="ID"> (reporting/charts.py).
   Numbers on the axes and in tooltips follow the page's language; amounts use the organization's currency, in
   万 / 亿 for Chinese readers (Intl's compact notation). The table view next to each chart needs no script. */
(function () {
  "use strict";
  var lang = document.documentElement.lang || "en";
  var locale = lang.indexOf("zh") === 0 ? "zh-CN" : lang;

  function formatter(unit, currency, compact) {
    if (unit === "percent") {
      var pct = new Intl.NumberFormat(locale, {style: "percent", maximumFractionDigits: 1});
      return function (v) { return v === null || v === undefined ? "—" : pct.format(v); };
    }
    if (unit === "money") {
      var options = {maximumFractionDigits: compact ? 1 : 2};
      if (currency) { options.style = "currency"; options.currency = currency; options.currencyDisplay = "narrowSymbol"; }
      if (compact) { options.notation = "compact"; }
      var amount = new Intl.NumberFormat(locale, options);
      return function (v) { return v === null || v === undefined ? "—" : amount.format(v); };
    }
    if (unit === "ratio") {
      return function (v) { return v === null || v === undefined ? "—" : v.toFixed(2) + "×"; };
    }
    var plain = new Intl.NumberFormat(locale, {maximumFractionDigits: unit === "months" ? 1 : 2,
                                               notation: compact ? "compact" : "standard"});
    return function (v) { return v === null || v === undefined ? "—" : plain.format(v); };
  }

  function dataset(one, index, spec) {
    var colour = spec.palette[index % spec.palette.length];
    var out = {
      label: one.label, data: one.data, borderColor: colour, backgroundColor: colour,
      borderWidth: 2, pointRadius: spec.kind === "scatter" ? 5 : 2, spanGaps: false
    };
    out.pointStyle = spec.kind === "bar" && !one.kind ? "rect" : "circle";
    if (one.dashed) { out.borderDash = [6, 4]; out.pointRadius = 0; out.pointStyle = "line"; }
    if (one.kind) { out.type = one.kind; }
    if (spec.kind === "bar" && !one.kind) { out.borderWidth = 0; }
    return out;
  }

  function guidePlugin(spec) {
    return {
      id: "custopsGuides",
      afterDatasetsDraw: function (chart) {
        var ctx = chart.ctx;
        spec.guides.forEach(function (guide) {
          var scale = chart.scales[guide.axis];
          if (!scale || guide.value === null) { return; }
          var at = scale.getPixelForValue(guide.value);
          ctx.save();
          ctx.strokeStyle = "#555"; ctx.setLineDash([4, 4]); ctx.lineWidth = 1; ctx.fillStyle = "#333";
          ctx.font = "12px sans-serif";
          ctx.beginPath();
          if (guide.axis === "x") {
            ctx.moveTo(at, chart.chartArea.top); ctx.lineTo(at, chart.chartArea.bottom); ctx.stroke();
            ctx.fillText(guide.label, at + 4, chart.chartArea.top + 12);
          } else {
            ctx.moveTo(chart.chartArea.left, at); ctx.lineTo(chart.chartArea.right, at); ctx.stroke();
            ctx.textAlign = "right";
            ctx.fillText(guide.label, chart.chartArea.right - 4, at - 4);
          }
          ctx.restore();
        });
        if (spec.kind !== "scatter") { return; }
        // Name each point beside it: a quadrant chart is read by which channel sits where.
        ctx.save();
        ctx.fillStyle = "#222"; ctx.font = "12px sans-serif";
        // A label that would cover another is moved a line up or down, or left out (the table view has it).
        var taken = [];
        function free(box) {
          return taken.every(function (other) {
            return box.x + box.w < other.x || other.x + other.w < box.x || box.y + box.h < other.y || other.y + other.h < box.y;
          });
        }
        chart.data.datasets.forEach(function (set, index) {
          chart.getDatasetMeta(index).data.forEach(function (element, i) {
            var point = set.data[i];
            if (!point || !point.label) { return; }
            var width = ctx.measureText(point.label).width;
            var right = element.x + 7 + width <= chart.chartArea.right;
            var x = right ? element.x + 7 : element.x - 7 - width;
            var offsets = [0, -13, 13, -26, 26];
            for (var k = 0; k < offsets.length; k++) {
              var box = {x: x, y: element.y - 8 + offsets[k], w: width, h: 12};
              if (free(box)) { taken.push(box); ctx.fillText(point.label, x, element.y + 4 + offsets[k]); break; }
            }
          });
        });
        ctx.restore();
      }
    };
  }

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chartSource);
    if (!source || !window.Chart) { return; }
    var spec = JSON.parse(source.textContent);
    var xTick = formatter(spec.x_unit, spec.currency, true);
    var yTick = formatter(spec.y_unit, spec.currency, true);
    var xFull = formatter(spec.x_unit, spec.currency, false);
    var yFull = formatter(spec.y_unit, spec.currency, false);
    var scatter = spec.kind === "scatter";
    var config = {
      type: spec.kind,
      data: {labels: scatter ? undefined : spec.labels, datasets: spec.series.map(function (one, i) { return dataset(one, i, spec); })},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: scatter ? {mode: "nearest", intersect: true} : {mode: "index", intersect: false},
        plugins: {
          legend: {display: spec.series.length > 1 || scatter, position: "bottom",
                   labels: {usePointStyle: true, pointStyleWidth: 18}},
          tooltip: {callbacks: {label: function (item) {
            if (scatter) {
              var point = item.raw;
              return (point.label || item.dataset.label) + ": " + spec.x_label + " " + xFull(point.x) + ", " + spec.y_label + " " + yFull(point.y);
            }
            return item.dataset.label + ": " + yFull(item.raw);
          }}}
        },
        scales: {
          x: {stacked: spec.stacked, title: {display: !!spec.x_label, text: spec.x_label},
              ticks: scatter ? {callback: function (v) { return xTick(v); }} : {}},
          y: {stacked: spec.stacked, beginAtZero: true, title: {display: !!spec.y_label, text: spec.y_label},
              ticks: {callback: function (v) { return yTick(v); }}}
        }
      },
      plugins: [guidePlugin(spec)]
    };
    // A reference line outside the data's range is still drawn: the axes reach it.
    spec.guides.forEach(function (guide) {
      var scale = config.options.scales[guide.axis];
      if (!scale || guide.value === null || (guide.axis === "x" && !scatter)) { return; }
      scale.suggestedMax = Math.max(scale.suggestedMax === undefined ? guide.value : scale.suggestedMax, guide.value * 1.1);
      if (guide.value < 0) { scale.suggestedMin = Math.min(scale.suggestedMin || 0, guide.value * 1.1); }
    });
    if (scatter) {
      // Room around the outermost points for their labels, but no axis below zero for figures that cannot be.
      var values = {x: [], y: []};
      spec.series.forEach(function (one) { one.data.forEach(function (p) { values.x.push(p.x); values.y.push(p.y); }); });
      ["x", "y"].forEach(function (axis) {
        var scale = config.options.scales[axis];
        scale.grace = "10%";
        if (values[axis].every(function (v) { return v === null || v >= 0; })) { scale.min = 0; }
      });
      config.options.scales.x.type = "linear";
    }
    canvas.custopsChart = new window.Chart(canvas, config);
  }

  function drawAll(root) {
    (root || document).querySelectorAll("canvas[data-chart-source]").forEach(function (canvas) {
      if (canvas.custopsChart) { return; }
      // One chart that cannot be drawn must not stop the others: its table view still has the numbers.
      try { draw(canvas); } catch (error) { canvas.dataset.chartError = String(error); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSwap", function (event) { drawAll(event.target); });
})();
