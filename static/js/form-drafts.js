/*
 * Drafts of the forms marked `data-draft` (the message form). What the person types is
 * kept in this tab's sessionStorage, under the form's id and the signed-in account, so a
 * send that meets a session ended elsewhere loses nothing: the site answers it with the
 * sign-in page (htmx follows the HX-Redirect), or refuses its stale CSRF token with a 403,
 * on which the page loads again. Once the same account is back on the form's page, the
 * draft goes back into the empty form, with the note the form carries in `data-draft`.
 *
 * A send the server takes is answered with the form blank (no data-submitted), which
 * clears the draft; signing out in this tab clears every draft; another account signing
 * in here never sees one.
 */
(function () {
  "use strict";

  const FIELD = "input[name]:not([type=hidden]), select[name], textarea[name]";
  const DRAFTED_FORM = "form[data-draft]";
  const PREFIX = "draft:";

  // Storage can be off or full; a draft is a kindness, never a reason to fail.
  function storage() {
    try {
      return window.sessionStorage;
    } catch (error) {
      return null;
    }
  }

  function account() {
    return document.body.dataset.account || "";
  }

  function key(form) {
    return PREFIX + form.id;
  }

  function forget(form) {
    const store = storage();
    if (store) {
      store.removeItem(key(form));
    }
  }

  function save(form) {
    const store = storage();
    if (!store || !form.id) {
      return;
    }
    const values = {};
    let typed = false;
    form.querySelectorAll(FIELD).forEach(function (field) {
      values[field.name] = field.value;
      typed = typed || field.value.trim() !== "";
    });
    if (!typed) {
      store.removeItem(key(form));
      return;
    }
    try {
      store.setItem(key(form), JSON.stringify({ account: account(), values: values }));
    } catch (error) {
      // Over the quota: the form keeps its text, only the copy is missing.
    }
  }

  function read(form) {
    const store = storage();
    try {
      return store ? JSON.parse(store.getItem(key(form)) || "null") : null;
    } catch (error) {
      return null;
    }
  }

  // A form the server sent back with values, or one the browser filled, keeps its own.
  function restore(form) {
    const draft = read(form);
    if (!draft || !form.id) {
      return;
    }
    if (draft.account !== account()) {
      forget(form);
      return;
    }
    const fields = Array.from(form.querySelectorAll(FIELD));
    if (form.hasAttribute("data-submitted") || fields.some((field) => field.value !== "")) {
      return;
    }
    fields.forEach(function (field) {
      if (typeof draft.values[field.name] === "string") {
        field.value = draft.values[field.name];
      }
    });
    const note = document.createElement("p");
    note.className = "warning";
    note.textContent = form.dataset.draft;
    form.prepend(note);
  }

  // Deferred, this runs once the page is parsed and before DOMContentLoaded, so the
  // counters (form-feedback.js) count the restored text from the start.
  document.querySelectorAll(DRAFTED_FORM).forEach(restore);

  document.addEventListener("input", function (event) {
    const form = event.target.closest && event.target.closest(DRAFTED_FORM);
    if (form) {
      save(form);
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt.matches && event.detail.elt.matches(DRAFTED_FORM)) {
      save(event.detail.elt);
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    const asked = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!asked || !asked.matches || !asked.matches(DRAFTED_FORM)) {
      return;
    }
    const answer = document.getElementById(asked.id);
    if (answer && !answer.hasAttribute("data-submitted")) {
      forget(asked);
    }
  });

  // htmx swaps no 403; to this site's forms it means the CSRF token is stale (the session
  // ended or changed elsewhere), so the page loads again, as the 403 page would advise.
  document.addEventListener("htmx:responseError", function (event) {
    const form = event.detail.elt;
    if (form.matches && form.matches(DRAFTED_FORM) && event.detail.xhr.status === 403) {
      save(form);
      window.location.reload();
    }
  });

  document.addEventListener("submit", function (event) {
    const store = storage();
    if (store && event.target.matches("[data-forget-drafts]")) {
      Object.keys(store)
        .filter((name) => name.startsWith(PREFIX))
        .forEach((name) => store.removeItem(name));
    }
  });
})();
