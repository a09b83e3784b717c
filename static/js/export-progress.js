// Progressive enhancement of the export page: polls the job's JSON status
// and updates the <progress> bar; reloads the page once the job has ended.
// Without JavaScript a <noscript> meta refresh reloads the page instead.
(function () {
  "use strict";
  var box = document.getElementById("export-job");
  if (!box) { return; }
  var status = box.getAttribute("data-status");
  if (status !== "queued" && status !== "running") { return; }
  var url = box.getAttribute("data-status-url");
  var bar = document.getElementById("export-progress");
  var count = document.getElementById("export-count");
  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (job) {
        if (!job) { return; }
        bar.max = job.total; bar.value = job.done;
        count.textContent = job.done + " / " + job.total;
        if (job.status === "queued" || job.status === "running") {
          window.setTimeout(poll, 1000);
        } else {
          window.location.reload();
        }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 1000);
}());
