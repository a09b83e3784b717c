/* Autosave of a draft (progressive enhancement): after a change, once the
 * user has paused for about 20 seconds, the form is posted to its
 * data-autosave-url (same CSRF token, sent in the X-CSRFToken header); the
 * answer's message (« Brouillon enregistré à HH:MM ») is shown in the form's
 * aria-live region. The page works fully without it. */
(function () {
  "use strict";

  var DELAY_MS = 20000;

  function setup(form) {
    var url = form.getAttribute("data-autosave-url");
    var status = form.querySelector("[data-autosave-status]");
    var tokenInput = form.querySelector('input[name="csrf_token"]');
    var timer = null;
    var dirty = false;
    var saving = false;

    function say(message) {
      if (status) {
        status.textContent = message;
      }
    }

    function updateProgress(items) {
      (items || []).forEach(function (item) {
        var text = document.querySelector('[data-progress="' + item.section + '"]');
        var bar = document.querySelector('[data-progress-bar="' + item.section + '"]');
        if (text && item.label) {
          text.textContent = item.label;
        }
        if (bar) {
          bar.max = item.total || 1;
          bar.value = item.total ? item.answered : 1;
        }
      });
    }

    function save() {
      timer = null;
      if (!dirty || saving) {
        return;
      }
      dirty = false;
      saving = true;
      var body = new FormData(form);
      body.delete("_action");
      fetch(url, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: {"X-CSRFToken": tokenInput ? tokenInput.value : "", "Accept": "application/json"}
      }).then(function (response) {
        return response.json().then(function (data) { return {ok: response.ok, data: data}; });
      }).then(function (result) {
        say(result.data.message || "");
        if (result.ok) {
          updateProgress(result.data.completeness);
        }
      }).catch(function () {
        dirty = true; // try again after the next change
        say(form.getAttribute("data-autosave-error") || "");
      }).then(function () {
        saving = false;
      });
    }

    function changed() {
      dirty = true;
      if (timer !== null) {
        window.clearTimeout(timer);
      }
      timer = window.setTimeout(save, DELAY_MS);
    }

    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    form.addEventListener("submit", function () {
      // A manual save posts the page: no autosave racing it.
      dirty = false;
      if (timer !== null) {
        window.clearTimeout(timer);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.fetch || !window.FormData) {
      return;
    }
    Array.prototype.forEach.call(document.querySelectorAll("form[data-autosave-url]"), setup);
  });
})();
