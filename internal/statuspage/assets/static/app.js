// The status page's script: it refreshes the live part every few seconds
// without reloading the page, and asks for confirmation before a replay or
// discard, which it then posts with the page's CSRF token.
(function () {
  "use strict";
  var state = document.getElementById("state");
  if (!state) {
    return;
  }
  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var refreshNote = document.getElementById("refresh");
  var flashBox = document.getElementById("flash");
  var busy = false;

  function note(text) {
    refreshNote.textContent = text;
  }

  function flash(text, failed) {
    flashBox.textContent = text;
    flashBox.className = failed ? "failed" : "";
    flashBox.hidden = false;
  }

  function refresh() {
    if (busy) {
      return Promise.resolve();
    }
    busy = true;
    return fetch("/ui/state" + window.location.search, {
      credentials: "same-origin",
      headers: { "Accept": "text/html" }
    }).then(function (resp) {
      if (resp.status === 401) {
        window.location.assign("/login");
        return null;
      }
      if (!resp.ok) {
        throw new Error("HTTP " + resp.status);
      }
      return resp.text();
    }).then(function (html) {
      if (html !== null) {
        state.innerHTML = html;
        note("");
      }
    }).catch(function (err) {
      note("Refresh failed (" + err.message + "); retrying.");
    }).finally(function () {
      busy = false;
    });
  }

  window.setInterval(function () {
    if (!document.hidden) {
      refresh();
    }
  }, 5000);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      refresh();
    }
  });

  // Replay and discard: confirm, post, report, refresh.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var question = form.getAttribute("data-confirm");
    if (!question) {
      return;
    }
    ev.preventDefault();
    if (!window.confirm(question)) {
      return;
    }
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
      body: new URLSearchParams(new FormData(form))
    }).then(function (resp) {
      return resp.json().catch(function () {
        return { error: "HTTP " + resp.status };
      }).then(function (body) {
        flash(body.message || body.error || ("HTTP " + resp.status), !resp.ok);
      });
    }).catch(function (err) {
      flash("The request failed: " + err.message, true);
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
      refresh();
    });
  });
}());
