// Small behaviours of the dataset pages, loaded as a static file (the CSP allows no
// inline script). Everything here also works without JavaScript, only less smoothly.
(function () {
  "use strict";

  // <form data-confirm="Remove this?">: ask before a destructive POST.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    }
  });

  // Storage browser: "Choose" fills the form instead of reloading the page.
  document.addEventListener("click", function (event) {
    var link = event.target.closest ? event.target.closest("[data-pick-relpath]") : null;
    if (!link) {
      return;
    }
    var root = document.getElementById("id_storage_root");
    var relpath = document.getElementById("id_relpath");
    if (!root || !relpath) {
      return; // no form on this page: follow the link
    }
    event.preventDefault();
    root.value = link.dataset.pickRoot;
    relpath.value = link.dataset.pickRelpath;
    relpath.classList.add("is-valid");
    relpath.focus();
  });
})();

// <form data-live-validate>: Kaggle's length and character rules, shown while typing.
// The browser computes validity from minlength/maxlength/pattern even with novalidate;
// the server checks everything again and has the last word.
(function () {
  "use strict";

  function message(field) {
    var v = field.validity;
    var length = field.value.length;
    if (v.valueMissing) {
      return "This field is required.";
    }
    if (v.tooShort) {
      return "Needs at least " + field.minLength + " characters; it has " + length + ".";
    }
    if (v.tooLong) {
      return "At most " + field.maxLength + " characters; it has " + length + ".";
    }
    if (v.patternMismatch) {
      return "Use plain letters, digits and single hyphens between them, " +
        "e.g. bird-song-recordings.";
    }
    return field.validationMessage;
  }

  function feedback(field) {
    var node = field.parentNode.querySelector(".live-feedback");
    if (!node) {
      node = document.createElement("div");
      node.className = "invalid-feedback live-feedback";
      field.insertAdjacentElement("afterend", node);
    }
    return node;
  }

  function check(field) {
    // The live message replaces the server's once the person edits the field.
    field.parentNode.querySelectorAll(".invalid-feedback:not(.live-feedback)").forEach(
      function (node) {
        node.remove();
      }
    );
    if (field.value === "" && !field.required) {
      field.classList.remove("is-invalid");
      return;
    }
    if (field.checkValidity()) {
      field.classList.remove("is-invalid");
      feedback(field).textContent = "";
    } else {
      field.classList.add("is-invalid");
      feedback(field).textContent = message(field);
    }
  }

  function onEvent(event) {
    var field = event.target;
    var form = field.form;
    if (!form || !form.hasAttribute("data-live-validate")) {
      return;
    }
    if (!field.matches("input[minlength], input[maxlength], input[pattern]")) {
      return;
    }
    // While typing, only clear a shown error; judge a field when it is left.
    if (event.type === "focusout" || field.classList.contains("is-invalid")) {
      check(field);
    }
  }

  document.addEventListener("input", onEvent);
  document.addEventListener("focusout", onEvent);
})();
