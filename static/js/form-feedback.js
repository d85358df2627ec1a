/*
 * What a person is told while and after a form is sent by htmx, and as they type:
 *
 * - while the request is in flight the form is aria-busy (htmx disables its button and
 *   marks it .htmx-request, which site.css turns into the busy mark);
 * - once the answer is swapped in, the focus goes to what it says: the form's own
 *   errors, else the first field in error, else the confirmation that arrived
 *   (an element marked data-focus-after-swap);
 * - a field with a character counter (form_fields.html) shows how much of its limit is
 *   used as the person types, and tells a screen reader after a pause once the limit
 *   is near or passed.
 */
(function () {
  "use strict";

  const COUNTER_PAUSE_MS = 800;
  // A screen reader hears the count from this share of the limit on.
  const NEAR_LIMIT = 0.9;

  function formOf(event) {
    const element = event.detail.elt;
    return element && element.tagName === "FORM" ? element : null;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    const form = formOf(event);
    if (form) {
      form.setAttribute("aria-busy", "true");
    }
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    const form = formOf(event);
    // The form may have been replaced by the answer; the old one goes, busy or not.
    if (form) {
      form.removeAttribute("aria-busy");
    }
  });

  function focus(element) {
    if (!element.hasAttribute("tabindex") && !element.matches("input, select, textarea, button, a[href]")) {
      element.setAttribute("tabindex", "-1");
    }
    element.focus();
  }

  // After a swap, the focus goes where the answer speaks. The id of the form that asked
  // finds it again: an outerHTML swap replaced the element itself.
  document.addEventListener("htmx:afterSettle", function (event) {
    const asked = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!asked || asked.tagName !== "FORM" || !asked.id) {
      return;
    }
    const form = document.getElementById(asked.id);
    const target =
      (form && (form.querySelector(".form-errors") || form.querySelector('[aria-invalid="true"]'))) ||
      document.querySelector("[data-focus-after-swap]");
    if (target) {
      target.removeAttribute("data-focus-after-swap");
      focus(target);
    }
  });

  // Characters as the server counts them: code points, line breaks as one, and the
  // spaces around the text left out (Django strips them).
  function length(value) {
    return Array.from(value.replace(/\r\n/g, "\n").trim()).length;
  }

  function counterText(counter, count) {
    const limit = Number(counter.dataset.limit);
    // Digits without grouping, as Django writes the limit in the page and in its error.
    const format = new Intl.NumberFormat(document.documentElement.lang || undefined, {
      useGrouping: false,
    });
    const template = count > limit ? counter.dataset.over : counter.dataset.within;
    return template
      .replace("{count}", format.format(count))
      .replace("{limit}", format.format(limit))
      .replace("{over}", format.format(count - limit));
  }

  function updateCounter(field, announce) {
    // A field swapped out (a form sent before the pause ended) counts for nothing: its
    // id now names the blank form's field, whose counter must not show the old count.
    if (!field.isConnected) {
      return;
    }
    const counter = document.getElementById(field.id + "_counter");
    if (!counter) {
      return;
    }
    const count = length(field.value);
    const limit = Number(counter.dataset.limit);
    counter.textContent = counterText(counter, count);
    counter.classList.toggle("counter--over", count > limit);
    const live = document.getElementById(field.id + "_counter_live");
    if (announce && live) {
      const text = count >= limit * NEAR_LIMIT ? counter.textContent : "";
      if (live.textContent !== text) {
        live.textContent = text;
      }
    }
  }

  // Counted fields describe themselves by their counter, beside Django's help and errors.
  function setUpCounters(root) {
    root.querySelectorAll(".counter[data-limit]").forEach(function (counter) {
      const field = document.getElementById(counter.id.replace(/_counter$/, ""));
      if (!field) {
        return;
      }
      const described = (field.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
      if (!described.includes(counter.id)) {
        const error = described.indexOf(field.id + "_error");
        described.splice(error === -1 ? described.length : error, 0, counter.id);
        field.setAttribute("aria-describedby", described.join(" "));
      }
      updateCounter(field, false);
    });
  }

  const timers = new WeakMap();
  document.addEventListener("input", function (event) {
    const field = event.target;
    if (!(field instanceof HTMLElement) || !field.id || !document.getElementById(field.id + "_counter")) {
      return;
    }
    updateCounter(field, false);
    clearTimeout(timers.get(field));
    timers.set(field, setTimeout(function () {
      updateCounter(field, true);
    }, COUNTER_PAUSE_MS));
  });

  document.addEventListener("DOMContentLoaded", function () {
    setUpCounters(document);
  });
  document.addEventListener("htmx:load", function (event) {
    setUpCounters(event.detail.elt);
  });
})();
