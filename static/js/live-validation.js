/*
 * Live field validation for every form that names a validation endpoint in
 * `data-validate-url`. When a person leaves a field, or pauses while typing, the form's
 * current values go to that endpoint, which binds the same Django form as the submit,
 * and the errors of the fields touched so far appear beside them.
 *
 * Forms are swapped in and out by htmx, so events are delegated from the document and
 * the touched fields are remembered on each form element.
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

  // A form the server sent back after a submit counts every field as touched.
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

  function showErrors($form, errors, touched) {
    touched.forEach(function (name) {
      const $input = $form.find('[name="' + CSS.escape(name) + '"]');
      const id = $input.attr("id");
      if (!id) {
        return;
      }
      const messages = errors[name] || [];
      const $list = $("#" + CSS.escape(id + "_error")).empty();
      messages.forEach(function (message) {
        $("<li>").text(message).appendTo($list);
      });
      $input.attr("aria-invalid", messages.length ? "true" : null);
      // Same order Django renders: help text first, then the errors.
      const describedBy = [];
      if (document.getElementById(id + "_helptext")) {
        describedBy.push(id + "_helptext");
      }
      if (messages.length) {
        describedBy.push(id + "_error");
      }
      $input.attr("aria-describedby", describedBy.length ? describedBy.join(" ") : null);
      $input.closest(".field").toggleClass("field--invalid", messages.length > 0);
    });
  }

  function validate($form) {
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
        showErrors($form, response.errors, touched);
      }
    });
  }

  $(document).on("focusout", VALIDATED_FORM, function (event) {
    if (!$(event.target).is(FIELD)) {
      return;
    }
    const field = event.target;
    const $form = $(this);
    clearTimeout($form.data("typingTimer"));
    touchedFields($form).add(field.name);
    validate($form);
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
    clearTimeout($form.data("typingTimer"));
    $form.data(
      "typingTimer",
      setTimeout(function () {
        touchedFields($form).add(name);
        validate($form);
      }, TYPING_PAUSE_MS),
    );
  });
})(jQuery);
