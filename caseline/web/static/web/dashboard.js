/* Support dashboard charts (Chart.js 4, vendored). Data: #dashboard-data (json_script). */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var sevColours = { 1: "#b91c1c", 2: "#f97316", 3: "#94a3b8", 4: "#cbd5e1" };
  Chart.defaults.font.size = 11;
  Chart.defaults.animation = false;
  new Chart(document.getElementById("chart-backlog"), {
    type: "bar",
    data: {
      labels: data.backlog.teams,
      datasets: [1, 2, 3, 4].map(function (sev) {
        return { label: "Sev-" + sev, data: data.backlog.by_severity[sev], backgroundColor: sevColours[sev] };
      })
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
  });
  new Chart(document.getElementById("chart-achievement"), {
    type: "bar",
    data: {
      labels: data.achievement.map(function (a) { return a.kind; }),
      datasets: [
        { label: "met", data: data.achievement.map(function (a) { return a.met; }), backgroundColor: "#15803d" },
        { label: "missed", data: data.achievement.map(function (a) { return a.missed; }), backgroundColor: "#b91c1c" }
      ]
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
  });
  new Chart(document.getElementById("chart-breaches"), {
    type: "line",
    data: {
      labels: data.breaches.map(function (b) { return b.day; }),
      datasets: [{ label: "breaches", data: data.breaches.map(function (b) { return b.breaches; }),
                   borderColor: "#b91c1c", backgroundColor: "#fee2e2", fill: true, tension: 0.2 }]
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
  });
})();
