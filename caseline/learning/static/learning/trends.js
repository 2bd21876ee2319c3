/* Trends charts (Chart.js 4, vendored). Data: #trends-data (json_script). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("trends-data").textContent);
  Chart.defaults.font.size = 11;
  Chart.defaults.animation = false;
  function stacked(id, rows) {
    new Chart(document.getElementById(id), {
      type: "bar",
      data: {
        labels: rows.map(function (r) { return r.key; }),
        datasets: [
          { label: "escalations", data: rows.map(function (r) { return r.escalations; }), backgroundColor: "#f97316" },
          { label: "incidents", data: rows.map(function (r) { return r.incidents; }), backgroundColor: "#b91c1c" }
        ]
      },
      options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
    });
  }
  stacked("chart-month", data.by_month);
  stacked("chart-area", data.by_product_area);
  stacked("chart-category", data.by_root_cause_category);
  stacked("chart-org", data.by_organization);
})();
