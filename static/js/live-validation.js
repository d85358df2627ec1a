/*
 * Live field validation for every form that names a validation endpoint in
 * `data-validate-url`. Once a person has changed a field, leaving it, or pausing while
 * typing, sends the form's current values to that endpoint, which binds the same Django
 * form as the submit, and the errors of the fields changed so far appear beside them.
 * A field only visited (tabbed through) is left alone until the form is submitted.
 *
 * While the person types, an error already shown may change or go, but no new one
 * appears until they leave the field: nobody is told an address is invalid half-way
 * through typing it. A list is only rewritten when its messages change, so a screen
 * reader announces each error once.
 *
 * Forms are swapped in and out by htmx, so events are delegated from the document and
 * the changed fields are remembered on each form element.
 */
(function ($) {
  "use strict";

  const TYPING_PAUSE_MS = 400;
  // Fields a person fills in (hidden inputs such as the CSRF token are never touched).
  const FIELD = "input[name]:not([type=hidden]), select[name], textarea[name]";
  const VALIDATED_FORM = "form[data-validate-url]";

  // The CSRF token is set once, on <body>, for htmx; jQuery reads it from there.
  function csrfToken() {
    return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
  }

  function isSameOrigin(url) {
    return new URL(url, window.location.href).origin === window.location.origin;
  }

  $.ajaxSetup({
    beforeSend(xhr, settings) {
      // Only this site gets the token, and only on requests that change something.
      if (!/^(GET|HEAD|OPTIONS|TRACE)$/i.test(settings.type) && isSameOrigin(settings.url)) {
        xhr.setRequestHeader("X-CSRFToken", csrfToken());
      }
    },
  });

  // A form the server sent back after a submit counts every field as changed.
  function touchedFields($form) {
    let touched = $form.data("touched");
    if (!touched) {
      touched = new Set();
      if ($form.is("[data-submitted]")) {
        $form.find(FIELD).each(function () {
          touched.add(this.name);
        });
      }
      $form.data("touched", touched);
    }
    return touched;
  }

  // The fields the person has typed into since this form arrived.
  function changedFields($form) {
    let changed = $form.data("changed");
    if (!changed) {
      changed = new Set();
      $form.data("changed", changed);
    }
    return changed;
  }

  function describedBy(id, hasErrors) {
    // Same order Django renders: help text first, then the counter and the errors.
    const ids = [id + "_helptext", id + "_counter"].filter(function (candidate) {
      return document.getElementById(candidate);
    });
    if (hasErrors) {
      ids.push(id + "_error");
    }
    return ids.length ? ids.join(" ") : null;
  }

  // `typing` names the field the person is still typing in: its errors may change or
  // go, but none appears where none was.
  function showErrors($form, errors, touched, typing) {
    touched.forEach(function (name) {
      const $input = $form.find('[name="' + CSS.escape(name) + '"]');
      const id = $input.attr("id");
      if (!id) {
        return;
      }
      const $list = $("#" + CSS.escape(id + "_error"));
      const shown = $list.children().map(function () {
        return $(this).text();
      }).get();
      const messages = errors[name] || [];
      if (name === typing && shown.length === 0) {
        return;
      }
      if (messages.join("\n") === shown.join("\n")) {
        return;
      }
      $list.empty();
      messages.forEach(function (message) {
        $("<li>").text(message).appendTo($list);
      });
      $input.attr("aria-invalid", messages.length ? "true" : null);
      $input.attr("aria-describedby", describedBy(id, messages.length > 0));
      $input.closest(".field").toggleClass("field--invalid", messages.length > 0);
    });
  }

  function validate($form, typing) {
    // Once submitted, the submit's answer speaks for every field; an answer arriving
    // later would be about a form that is gone (and, after a password change, from a
    // session that is gone too).
    if ($form.data("submitting")) {
      return;
    }
    const touched = touchedFields($form);
    const data = $form.serializeArray();
    touched.forEach(function (name) {
      data.push({ name: "_touched", value: name });
    });
    // Answers can arrive out of order; only the newest one is shown.
    const sequence = ($form.data("validationSequence") || 0) + 1;
    $form.data("validationSequence", sequence);
    $.ajax({
      url: $form.attr("data-validate-url"),
      method: "POST",
      data: $.param(data),
      dataType: "json",
    }).done(function (response) {
      const current = $form.data("validationSequence") === sequence;
      if (current && document.contains($form[0])) {
        showErrors($form, response.errors, touched, typing);
      }
    });
  }

  $(document).on("focusout", VALIDATED_FORM, function (event) {
    if (!$(event.target).is(FIELD)) {
      return;
    }
    const $form = $(this);
    clearTimeout($form.data("typingTimer"));
    // Only leaving a field the person changed asks again: a form the server sent back
    // already shows its errors, and the focus moving to them is no change.
    if (changedFields($form).has(event.target.name)) {
      validate($form, null);
    }
  });

  $(document).on("submit", VALIDATED_FORM, function () {
    const $form = $(this);
    clearTimeout($form.data("typingTimer"));
    $form.data("submitting", true);
    // Answers to validations already on their way are no longer shown.
    $form.data("validationSequence", ($form.data("validationSequence") || 0) + 1);
  });

  $(document).on("input", VALIDATED_FORM, function (event) {
    if (!$(event.target).is(FIELD)) {
      return;
    }
    const $form = $(this);
    const name = event.target.name;
    changedFields($form).add(name);
    touchedFields($form).add(name);
    clearTimeout($form.data("typingTimer"));
    $form.data(
      "typingTimer",
      setTimeout(function () {
        validate($form, name);
      }, TYPING_PAUSE_MS),
    );
  });
})(jQuery);
